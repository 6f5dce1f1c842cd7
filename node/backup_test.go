package node

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage/bucket"
)

// allMsgs returns every stored revision of a bucket.
func allMsgs(t *testing.T, b *Bucket) []*bucket.Msg {
	t.Helper()
	v := b.state.Snapshot()
	defer v.Close()
	var out []*bucket.Msg
	if err := v.Scan(0, func(m *bucket.Msg) bool { out = append(out, m); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBackupRestore(t *testing.T) {
	ctx := testCtx(t)
	src := startNode(t, "")
	cfg := BucketConfig{Name: "orders", History: 5, AllowMsgTTL: true, MarkerTTL: time.Hour, Description: "backed up"}
	b := mustBucket(t, src, cfg)
	for i := range 3 {
		for _, k := range []string{"a", "b.c", "d"} {
			must(b.Put(ctx, k, []byte(strings.Repeat(k, i+1))))(t)
		}
	}
	must(b.Create(ctx, "ttl.key", []byte("expiring"), time.Hour))(t)
	must(b.Delete(ctx, "a", RemoveOptions{}))(t)
	must(b.Purge(ctx, "d", RemoveOptions{}))(t)
	must(b.Put(ctx, "tail", []byte("x")))(t)
	// Purging the newest key leaves the last revision above the last
	// stored message.
	must(b.PurgeStream(ctx, bucket.PurgeRequest{Filter: "tail"}))(t)
	orig := must(b.Info(ctx))(t)
	want := allMsgs(t, b)

	var buf bytes.Buffer
	sum := must(b.Backup(ctx, &buf))(t)
	if sum.Messages != uint64(len(want)) || sum.Last != orig.State.Last || sum.Bytes != int64(buf.Len()) {
		t.Fatalf("summary %+v, %d messages, info %+v, %d bytes", sum, len(want), orig.State, buf.Len())
	}
	file := buf.Bytes()

	dst := startNode(t, "")
	// Damaged files are refused and create nothing.
	flip := bytes.Clone(file)
	flip[len(flip)/2] ^= 1
	badSum := bytes.Replace(bytes.Clone(file), []byte(sum.SHA256), []byte(strings.Repeat("0", 64)), 1)
	for name, bad := range map[string][]byte{
		"flipped byte":   flip,
		"truncated":      file[:len(file)-10],
		"no trailer":     file[:bytes.LastIndexByte(file[:len(file)-1], '\n')+1],
		"wrong checksum": badSum,
		"empty":          nil,
		"not a backup":   []byte("{\"format\":\"tar\"}\n"),
	} {
		_, _, err := dst.Restore(ctx, bytes.NewReader(bad))
		wantErr(t, err, ErrInvalidBackup, 400, 10003)
		if _, err := dst.Bucket("orders"); err == nil {
			t.Fatalf("%s: restore created the bucket", name)
		}
	}

	// Restore from a non-seekable reader (spooled).
	rsum, info, err := dst.Restore(ctx, io.MultiReader(bytes.NewReader(file)))
	if err != nil {
		t.Fatal(err)
	}
	if rsum != sum {
		t.Fatalf("restore summary %+v, backup %+v", rsum, sum)
	}
	got := dst.mustBucketHandle(t, "orders")
	if !reflect.DeepEqual(allMsgs(t, got), want) {
		t.Fatalf("restored messages differ:\n got %v\nwant %v", allMsgs(t, got), want)
	}
	st, ost := info.State, orig.State
	st.Applied, ost.Applied = 0, 0
	if st != ost {
		t.Fatalf("state: got %+v want %+v", st, ost)
	}
	if !reflect.DeepEqual(info.Config, orig.Config) {
		t.Fatalf("config: got %+v want %+v", info.Config, orig.Config)
	}
	wk := must(b.Keys(ctx, ReadOptions{}))(t)
	gk := must(got.Keys(ctx, ReadOptions{}))(t)
	if !reflect.DeepEqual(wk, gk) {
		t.Fatalf("keys %v, want %v", gk, wk)
	}
	for _, k := range []string{"a", "b.c", "d", "ttl.key"} {
		wh := must(b.History(ctx, k, ReadOptions{}))(t)
		gh := must(got.History(ctx, k, ReadOptions{}))(t)
		if !reflect.DeepEqual(wh, gh) {
			t.Fatalf("history of %s: got %+v want %+v", k, gh, wh)
		}
	}
	// A second backup of the restored bucket is byte-identical.
	var again bytes.Buffer
	must(got.Backup(ctx, &again))(t)
	if !bytes.Equal(again.Bytes(), file) {
		t.Fatalf("backup of the restored bucket differs")
	}
	// New writes continue from the original's last revision.
	if rev := must(got.Put(ctx, "new", []byte("v")))(t); rev != orig.State.Last+1 {
		t.Fatalf("put after restore: revision %d, want %d", rev, orig.State.Last+1)
	}

	// Restore over a non-empty bucket is refused; over an empty one, allowed.
	_, _, err = dst.Restore(ctx, bytes.NewReader(file))
	wantErr(t, err, ErrBucketNotEmpty, 409, 10058)
	mustDo(t, dst.DeleteBucket(ctx, "orders"))
	mustBucket(t, dst, cfg)
	path := filepath.Join(t.TempDir(), "orders.backup")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := dst.Restore(ctx, f); err != nil {
		t.Fatalf("restore into an empty bucket: %v", err)
	}
	if !reflect.DeepEqual(allMsgs(t, dst.mustBucketHandle(t, "orders")), want) {
		t.Fatal("restore into an empty bucket: messages differ")
	}
}

func (n *Node) mustBucketHandle(t *testing.T, name string) *Bucket {
	t.Helper()
	b, err := n.Bucket(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A backup larger than one restore chunk is applied in several commands,
// with the same result.
func TestRestoreManyChunks(t *testing.T) {
	ctx := testCtx(t)
	src := startNode(t, "")
	b := mustBucket(t, src, BucketConfig{Name: "many", History: 2})
	big := bytes.Repeat([]byte("v"), 3000)
	for round := range 3 {
		pubs := make([]bucket.Publish, 500)
		for i := range pubs {
			pubs[i] = bucket.Publish{Key: fmt.Sprintf("k.%d", i%700+round), Data: big[:i%3000]}
		}
		must(b.Publish(ctx, pubs...))(t)
	}
	want := allMsgs(t, b)
	var buf bytes.Buffer
	must(b.Backup(ctx, &buf))(t)
	dst := startNode(t, "")
	_, info, err := dst.Restore(ctx, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(allMsgs(t, dst.mustBucketHandle(t, "many")), want) {
		t.Fatal("restored messages differ")
	}
	if orig := must(b.Info(ctx))(t); info.State.Last != orig.State.Last || info.State.Msgs != orig.State.Msgs || info.State.Keys != orig.State.Keys {
		t.Fatalf("state %+v, want %+v", info.State, orig.State)
	}
}
