package bucket

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
)

type testSM struct {
	*State
	applied uint64
}

// testState opens an in-memory bucket state for one group.
func testState(t *testing.T, cfg Config) *testSM {
	t.Helper()
	db, err := storage.Open(storage.Options{InMemory: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(db, 7, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	sm := &testSM{State: s}
	apply(t, sm, &Command{Kind: KindSetConfig, Time: 1, Config: &cfg})
	return sm
}

// apply applies and commits one command.
func apply(t *testing.T, s *testSM, cmd *Command) Result {
	t.Helper()
	data, err := cmd.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b := s.db.NewIndexedBatch()
	res, err := s.Apply(b, data)
	if err != nil {
		t.Fatal(err)
	}
	s.applied++
	if err := s.SetApplied(b, s.applied); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	s.Committed()
	return res
}

func dump(t *testing.T, s *testSM) []*Msg {
	t.Helper()
	v := s.Snapshot()
	defer v.Close()
	var out []*Msg
	if err := v.Scan(0, func(m *Msg) bool { out = append(out, m); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameMsgs(a, b []*Msg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		p, q := *a[i], *b[i]
		if !bytes.Equal(p.Header, q.Header) || !bytes.Equal(p.Data, q.Data) {
			return false
		}
		p.Header, p.Data, q.Header, q.Data = nil, nil, nil, nil
		if !reflect.DeepEqual(p, q) {
			return false
		}
	}
	return true
}

func TestApplyRestore(t *testing.T) {
	cfg := Config{Name: "b", History: 3, AllowMsgTTL: true, AllowRollup: true}
	// The original, built with publishes, purges and deletes.
	orig := testState(t, cfg)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i, p := range []Publish{
		{Key: "a", Data: []byte("1")},
		{Key: "a", Data: []byte("2")},
		{Key: "b", Data: []byte("x"), TTL: int64(time.Hour)},
		{Key: "a", Data: []byte("3")},
		{Key: "a", Data: []byte("4")}, // drops a=1 (history 3)
		{Key: "c", Op: OpDelete, Header: []byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n")},
		{Key: "d", Data: []byte("gone")},
	} {
		apply(t, orig, &Command{Kind: KindPublish, Time: now + int64(i)*1000, Pubs: []Publish{p}})
	}
	apply(t, orig, &Command{Kind: KindPurge, Time: now + 9000, Purge: PurgeRequest{Filter: "d"}})
	want := dump(t, orig)
	wantStats := orig.Stats()

	// Restored in two commands, then Last raised past the purged revision.
	dup := testState(t, cfg)
	msgs := make([]Msg, len(want))
	for i, m := range want {
		msgs[i] = *m
	}
	res := apply(t, dup, &Command{Kind: KindRestore, Time: 1, Restore: Restore{Msgs: msgs[:2]}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	// Out of order: at or below Last, or not increasing, fails whole.
	for _, bad := range [][]Msg{msgs[1:3], {msgs[3], msgs[3]}, {msgs[4], msgs[3]}} {
		before := dup.Stats()
		res = apply(t, dup, &Command{Kind: KindRestore, Time: 1, Restore: Restore{Msgs: bad}})
		if !errors.Is(res.Err, ErrRestoreOrder) {
			t.Fatalf("out-of-order restore: %v", res.Err)
		}
		after := dup.Stats()
		after.Applied = before.Applied
		if after != before {
			t.Fatalf("failed restore changed stats: %+v -> %+v", before, after)
		}
	}
	res = apply(t, dup, &Command{Kind: KindRestore, Time: 1, Restore: Restore{Msgs: msgs[2:], SetLast: wantStats.Last, LastTime: wantStats.LastTime}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := dump(t, dup); !sameMsgs(got, want) {
		t.Fatalf("restored messages differ")
	}
	gotStats := dup.Stats()
	gotStats.Applied = wantStats.Applied
	if gotStats != wantStats {
		t.Fatalf("stats: got %+v want %+v", gotStats, wantStats)
	}
	for _, key := range []string{"a", "b", "c", "d"} {
		a, _ := orig.keyRevs(orig.db, key)
		b, _ := dup.keyRevs(dup.db, key)
		if len(a) != len(b) {
			t.Fatalf("key %s: revs %v vs %v", key, a, b)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("key %s: revs %v vs %v", key, a, b)
			}
		}
	}
	ea, _ := orig.NextExpiry()
	eb, _ := dup.NextExpiry()
	if ea != eb || ea == 0 {
		t.Fatalf("next expiry %d vs %d", ea, eb)
	}
	// A new publish continues from the restored last revision.
	res = apply(t, dup, &Command{Kind: KindPublish, Time: 1, Pubs: []Publish{{Key: "e"}}})
	if res.Err != nil || res.Seqs[0] != wantStats.Last+1 {
		t.Fatalf("publish after restore: %+v", res)
	}
}
