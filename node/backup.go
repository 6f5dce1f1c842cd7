package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/cairnkv/cairn/storage/bucket"
)

// Backup file format: JSON lines. The first line is a BackupHeader, then
// one BackupMsg per stored revision in revision order, then a
// BackupTrailer whose SHA256 covers every byte before it.
const (
	BackupFormat  = "cairn-bucket-backup"
	BackupVersion = 1
)

// Restore chunk bounds: one KindRestore command carries at most this many
// messages or (roughly) bytes.
const (
	restoreChunkMsgs  = 512
	restoreChunkBytes = 4 << 20
	maxBackupLine     = 256 << 20
)

// BackupHeader is the first line of a backup.
type BackupHeader struct {
	Format   string        `json:"format"`
	Version  int           `json:"version"`
	Bucket   string        `json:"bucket"`
	Config   bucket.Config `json:"config"`
	Last     uint64        `json:"last"`
	LastTime int64         `json:"last_time"`
	Messages uint64        `json:"messages"`
	Bytes    uint64        `json:"bytes"`
}

// BackupMsg is one stored revision. Header and Data are base64.
type BackupMsg struct {
	Seq    uint64 `json:"seq"`
	Key    string `json:"key"`
	Op     uint8  `json:"op"`
	Header []byte `json:"header,omitempty"`
	Data   []byte `json:"data,omitempty"`
	Time   int64  `json:"time"`
	TTL    int64  `json:"ttl,omitempty"`
}

// BackupTrailer is the last line of a backup.
type BackupTrailer struct {
	Trailer  bool   `json:"trailer"`
	Messages uint64 `json:"messages"`
	SHA256   string `json:"sha256"`
}

// BackupSummary describes a written or verified backup.
type BackupSummary struct {
	Bucket   string `json:"bucket"`
	Messages uint64 `json:"messages"`
	Last     uint64 `json:"last_revision"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
}

// ErrInvalidBackup: a backup file failed verification.
var ErrInvalidBackup = errors.New("invalid backup")

// ErrBucketNotEmpty: a restore target already holds data.
var ErrBucketNotEmpty = errors.New("bucket not empty")

func errInvalidBackup(format string, args ...any) error {
	return newErr(ErrInvalidBackup, 400, 10003, "invalid backup: "+format, args...)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Backup writes a consistent copy of the bucket, history included, to w:
// a linearizable barrier, then one snapshot of the state.
func (b *Bucket) Backup(ctx context.Context, w io.Writer) (BackupSummary, error) {
	if err := b.barrier(ctx, false); err != nil {
		return BackupSummary{}, err
	}
	v := b.state.Snapshot()
	defer v.Close()
	h := sha256.New()
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(io.MultiWriter(cw, h), 64<<10)
	enc := json.NewEncoder(bw)
	hdr := BackupHeader{Format: BackupFormat, Version: BackupVersion, Bucket: b.name, Config: v.Cfg,
		Last: v.Stats.Last, LastTime: v.Stats.LastTime, Messages: v.Stats.Msgs, Bytes: v.Stats.Bytes}
	if err := enc.Encode(&hdr); err != nil {
		return BackupSummary{}, err
	}
	var n uint64
	var werr error
	err := v.Scan(0, func(m *bucket.Msg) bool {
		if err := ctx.Err(); err != nil {
			werr = err
			return false
		}
		werr = enc.Encode(&BackupMsg{Seq: m.Seq, Key: m.Key, Op: uint8(m.Op), Header: m.Header, Data: m.Data, Time: m.Time, TTL: m.TTL})
		n++
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return BackupSummary{}, err
	}
	if n != hdr.Messages {
		return BackupSummary{}, fmt.Errorf("bucket %s: snapshot holds %d messages, its counters say %d", b.name, n, hdr.Messages)
	}
	if err := bw.Flush(); err != nil {
		return BackupSummary{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	line, _ := json.Marshal(&BackupTrailer{Trailer: true, Messages: n, SHA256: sum})
	if _, err := cw.Write(append(line, '\n')); err != nil {
		return BackupSummary{}, err
	}
	return BackupSummary{Bucket: b.name, Messages: n, Last: hdr.Last, Bytes: cw.n, SHA256: sum}, nil
}

// backupReader reads a backup's lines, hashing every line it returns.
type backupReader struct {
	r    *bufio.Reader
	h    hash.Hash
	n    int64
	line int
}

// next returns the next line without its newline; io.EOF at the end.
func (br *backupReader) next() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxBackupLine {
			return nil, errInvalidBackup("line %d longer than %d bytes", br.line+1, maxBackupLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(buf) == 0 {
				return nil, io.EOF
			}
			return nil, errInvalidBackup("truncated: line %d has no end", br.line+1)
		}
		if err != nil {
			return nil, err
		}
		br.line++
		br.n += int64(len(buf))
		return buf[:len(buf)-1], nil
	}
}

// readBackup reads and verifies a backup. For each message, fn (if not
// nil) is called in order; the trailer is verified only at the end, so a
// caller applying messages must verify a whole pass first.
func readBackup(r io.Reader, fn func(m *bucket.Msg) error) (BackupHeader, BackupSummary, error) {
	br := &backupReader{r: bufio.NewReaderSize(r, 1<<20), h: sha256.New()}
	var hdr BackupHeader
	line, err := br.next()
	if err == io.EOF {
		return hdr, BackupSummary{}, errInvalidBackup("empty file")
	}
	if err != nil {
		return hdr, BackupSummary{}, err
	}
	dec := func(line []byte, v any) error {
		d := json.NewDecoder(bytes.NewReader(line))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			return errInvalidBackup("line %d: %v", br.line, err)
		}
		return nil
	}
	if err := dec(line, &hdr); err != nil {
		return hdr, BackupSummary{}, err
	}
	if hdr.Format != BackupFormat {
		return hdr, BackupSummary{}, errInvalidBackup("format %q, want %q", hdr.Format, BackupFormat)
	}
	if hdr.Version != BackupVersion {
		return hdr, BackupSummary{}, errInvalidBackup("version %d, this node reads version %d", hdr.Version, BackupVersion)
	}
	if err := ValidateBucketName(hdr.Config.Name); err != nil || hdr.Config.Name != hdr.Bucket {
		return hdr, BackupSummary{}, errInvalidBackup("bucket name %q in a config for %q", hdr.Bucket, hdr.Config.Name)
	}
	br.h.Write(line)
	br.h.Write([]byte{'\n'})
	var n, last uint64
	for {
		line, err := br.next()
		if err == io.EOF {
			return hdr, BackupSummary{}, errInvalidBackup("truncated: no trailer after %d messages", n)
		}
		if err != nil {
			return hdr, BackupSummary{}, err
		}
		if bytes.HasPrefix(line, []byte(`{"trailer"`)) {
			var tr BackupTrailer
			if err := dec(line, &tr); err != nil {
				return hdr, BackupSummary{}, err
			}
			sum := hex.EncodeToString(br.h.Sum(nil))
			if tr.SHA256 != sum {
				return hdr, BackupSummary{}, errInvalidBackup("checksum mismatch: file says sha256 %s, content has %s", tr.SHA256, sum)
			}
			if tr.Messages != n || hdr.Messages != n {
				return hdr, BackupSummary{}, errInvalidBackup("holds %d messages, header says %d, trailer %d", n, hdr.Messages, tr.Messages)
			}
			if last > hdr.Last {
				return hdr, BackupSummary{}, errInvalidBackup("revision %d above the header's last revision %d", last, hdr.Last)
			}
			if _, err := br.r.ReadByte(); err != io.EOF {
				return hdr, BackupSummary{}, errInvalidBackup("data after the trailer")
			}
			return hdr, BackupSummary{Bucket: hdr.Bucket, Messages: n, Last: hdr.Last, Bytes: br.n, SHA256: sum}, nil
		}
		br.h.Write(line)
		br.h.Write([]byte{'\n'})
		var bm BackupMsg
		if err := dec(line, &bm); err != nil {
			return hdr, BackupSummary{}, err
		}
		if bm.Seq <= last {
			return hdr, BackupSummary{}, errInvalidBackup("line %d: revision %d not above %d", br.line, bm.Seq, last)
		}
		if bucket.Op(bm.Op) > bucket.OpMarker {
			return hdr, BackupSummary{}, errInvalidBackup("line %d: unknown op %d", br.line, bm.Op)
		}
		if err := ValidateKey(bm.Key); err != nil {
			return hdr, BackupSummary{}, errInvalidBackup("line %d: %v", br.line, err)
		}
		last = bm.Seq
		n++
		if fn != nil {
			m := &bucket.Msg{Seq: bm.Seq, Key: bm.Key, Op: bucket.Op(bm.Op), Header: bm.Header, Data: bm.Data, Time: bm.Time, TTL: bm.TTL}
			if err := fn(m); err != nil {
				return hdr, BackupSummary{}, err
			}
		}
	}
}

// VerifyBackup reads a whole backup and checks its format, counts and
// checksum.
func VerifyBackup(r io.Reader) (BackupSummary, error) {
	_, sum, err := readBackup(r, nil)
	return sum, err
}

// Restore creates a bucket from a backup: the file is read and verified
// whole first (spooled to a temporary file when r is not seekable), so a
// damaged file creates nothing. The bucket must not exist, or be empty
// with no revision ever assigned. Revisions and times are kept.
func (n *Node) Restore(ctx context.Context, r io.Reader) (BackupSummary, BucketInfo, error) {
	rs, ok := r.(io.ReadSeeker)
	var start int64
	if ok {
		var err error
		if start, err = rs.Seek(0, io.SeekCurrent); err != nil {
			return BackupSummary{}, BucketInfo{}, err
		}
	} else {
		f, err := os.CreateTemp("", "cairn-restore-*")
		if err != nil {
			return BackupSummary{}, BucketInfo{}, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(f, r); err != nil {
			return BackupSummary{}, BucketInfo{}, fmt.Errorf("reading backup: %w", err)
		}
		rs = f
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return BackupSummary{}, BucketInfo{}, err
	}
	hdr, sum, err := readBackup(rs, nil)
	if err != nil {
		return sum, BucketInfo{}, err
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return sum, BucketInfo{}, err
	}

	name := hdr.Config.Name
	if b, err := n.Bucket(name); err == nil {
		info, err := b.Info(ctx)
		if err != nil {
			return sum, BucketInfo{}, err
		}
		if info.State.Last != 0 || info.State.Msgs != 0 {
			return sum, BucketInfo{}, newErr(ErrBucketNotEmpty, 409, 10058,
				"bucket %s already exists with data (last revision %d); restore needs a new or empty bucket", name, info.State.Last)
		}
	}
	if _, err := n.CreateBucket(ctx, hdr.Config); err != nil {
		return sum, BucketInfo{}, err
	}
	b, err := n.Bucket(name)
	if err != nil {
		return sum, BucketInfo{}, err
	}
	b.restoring.Store(true)
	defer b.restoring.Store(false)

	var chunk []bucket.Msg
	size := 0
	flush := func(final bool) error {
		cmd := &bucket.Command{Kind: bucket.KindRestore, Restore: bucket.Restore{Msgs: chunk}}
		if final {
			cmd.Restore.SetLast, cmd.Restore.LastTime = hdr.Last, hdr.LastTime
		}
		_, err := b.propose(ctx, cmd)
		chunk, size = nil, 0
		if err != nil {
			return fmt.Errorf("restoring bucket %s: %w", name, err)
		}
		return nil
	}
	_, _, err = readBackup(rs, func(m *bucket.Msg) error {
		chunk = append(chunk, *m)
		size += len(m.Key) + len(m.Header) + len(m.Data) + 64
		if len(chunk) >= restoreChunkMsgs || size >= restoreChunkBytes {
			return flush(false)
		}
		return nil
	})
	if err == nil {
		err = flush(true)
	}
	if err != nil {
		return sum, BucketInfo{}, err
	}
	info, err := b.Info(ctx)
	return sum, info, err
}
