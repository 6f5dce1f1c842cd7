package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cairnkv/cairn/storage"
	"github.com/cairnkv/cairn/storage/raftlog"
	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3/raftpb"
)

// A group's snapshot is its replicated state: every key under
// storage.GroupPrefix(group), as of an applied index. The leader takes a
// Pebble snapshot when raft asks for one (on the group's worker, so the
// applied index is exact) and streams its keys when the transport sends
// the MsgSnap; the follower stages the stream and installs it when raft
// accepts the snapshot, in one batch with the raft log reset.

// snapshotTTL bounds how long an unsent snapshot pins Pebble data.
const snapshotTTL = 5 * time.Minute

// maxHeldSnapshots bounds the snapshots a group keeps for followers.
const maxHeldSnapshots = 4

// maxStagedSnapshotBytes bounds a snapshot staged in memory.
const maxStagedSnapshotBytes = 1 << 30

var errNoSnapshot = errors.New("snapshot not available")

type heldSnapshot struct {
	snap    *pebble.Snapshot
	expires time.Time
}

type stagedSnapshot struct {
	kvs [][2][]byte
}

// groupStorage is raft's view of a group's storage: the raft log, plus
// snapshots generated from the state machine at its applied index.
type groupStorage struct {
	*raftlog.Log
	g *Group
}

// Snapshot implements raft.Storage. raft calls it on the group's worker
// when a follower needs state the log no longer has.
func (s groupStorage) Snapshot() (raftpb.Snapshot, error) {
	g := s.g
	applied := g.applied.Load()
	term, err := s.Log.Term(applied)
	if err != nil {
		return raftpb.Snapshot{}, fmt.Errorf("group %d: term of applied index %d: %w", g.id, applied, err)
	}
	g.snapMu.Lock()
	defer g.snapMu.Unlock()
	now := time.Now()
	for idx, h := range g.held {
		if now.After(h.expires) {
			_ = h.snap.Close()
			delete(g.held, idx)
		}
	}
	if _, ok := g.held[applied]; !ok {
		// Followers that keep failing to receive would make raft ask
		// again and again; keep only the newest few pinned.
		for len(g.held) >= maxHeldSnapshots {
			var oldest uint64 = ^uint64(0)
			for idx := range g.held {
				oldest = min(oldest, idx)
			}
			_ = g.held[oldest].snap.Close()
			delete(g.held, oldest)
		}
		g.held[applied] = &heldSnapshot{snap: g.db.NewSnapshot(), expires: now.Add(snapshotTTL)}
	}
	return raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: applied, Term: term, ConfState: s.Log.ConfState()}}, nil
}

// OpenSnapshot streams the state of the snapshot raft generated at index.
func (g *Group) OpenSnapshot(index uint64) (io.ReadCloser, error) {
	g.snapMu.Lock()
	h, ok := g.held[index]
	if ok {
		delete(g.held, index) // one send per generated snapshot
	}
	g.snapMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("group %d index %d: %w", g.id, index, errNoSnapshot)
	}
	g.sched.metrics.snapshotsSent.Inc()
	pr, pw := io.Pipe()
	go func() {
		defer h.snap.Close()
		pw.CloseWithError(writeGroupState(pw, h.snap, g.id))
	}()
	return pr, nil
}

func writeGroupState(w io.Writer, r pebble.Reader, id storage.GroupID) error {
	p := storage.GroupPrefix(id)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: storage.PrefixEnd(p)})
	if err != nil {
		return err
	}
	defer it.Close()
	bw := bufio.NewWriterSize(w, 256<<10)
	var hdr [2 * binary.MaxVarintLen64]byte
	for ok := it.First(); ok; ok = it.Next() {
		n := binary.PutUvarint(hdr[:], uint64(len(it.Key())))
		n += binary.PutUvarint(hdr[n:], uint64(len(it.Value())))
		if _, err := bw.Write(hdr[:n]); err != nil {
			return err
		}
		if _, err := bw.Write(it.Key()); err != nil {
			return err
		}
		if _, err := bw.Write(it.Value()); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// StageSnapshot reads a snapshot stream for the MsgSnap about to be
// delivered; it is installed only if raft accepts that snapshot. Every key
// must lie inside the group's state.
func (g *Group) StageSnapshot(index uint64, data io.Reader) error {
	p := storage.GroupPrefix(g.id)
	end := storage.PrefixEnd(p)
	br := bufio.NewReaderSize(data, 256<<10)
	st := &stagedSnapshot{}
	var total int
	for {
		kl, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("group %d snapshot: %w", g.id, err)
		}
		vl, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("group %d snapshot: %w", g.id, err)
		}
		total += int(kl + vl)
		if kl > 1<<20 || vl > 1<<30 || total > maxStagedSnapshotBytes {
			return fmt.Errorf("group %d snapshot: entry or total size out of bounds", g.id)
		}
		kv := [2][]byte{make([]byte, kl), make([]byte, vl)}
		if _, err := io.ReadFull(br, kv[0]); err != nil {
			return fmt.Errorf("group %d snapshot: %w", g.id, err)
		}
		if _, err := io.ReadFull(br, kv[1]); err != nil {
			return fmt.Errorf("group %d snapshot: %w", g.id, err)
		}
		if string(kv[0]) < string(p) || string(kv[0]) >= string(end) {
			return fmt.Errorf("group %d snapshot: key outside the group's state", g.id)
		}
		st.kvs = append(st.kvs, kv)
	}
	g.snapMu.Lock()
	g.staged = map[uint64]*stagedSnapshot{index: st} // only the newest matters
	g.snapMu.Unlock()
	return nil
}

// installSnapshot replaces the group's state and raft log with a snapshot
// raft accepted, in one synced batch, then has the state machine reload.
func (g *Group) installSnapshot(snap raftpb.Snapshot, hs raftpb.HardState) error {
	idx := snap.Metadata.Index
	g.snapMu.Lock()
	st := g.staged[idx]
	delete(g.staged, idx)
	g.snapMu.Unlock()
	if st == nil {
		return fmt.Errorf("group %d: raft accepted snapshot %d but no state was staged for it", g.id, idx)
	}
	b := g.db.NewBatch()
	defer b.Close()
	p := storage.GroupPrefix(g.id)
	if err := b.DeleteRange(p, storage.PrefixEnd(p), nil); err != nil {
		return err
	}
	for _, kv := range st.kvs {
		if err := b.Set(kv[0], kv[1], nil); err != nil {
			return err
		}
	}
	if err := g.log.Save(b, hs, nil, snap); err != nil {
		return err
	}
	if err := b.Commit(g.db.Durable()); err != nil {
		return fmt.Errorf("group %d: installing snapshot %d: %w", g.id, idx, err)
	}
	if err := g.sm.Reload(); err != nil {
		return fmt.Errorf("group %d: reloading state after snapshot %d: %w", g.id, idx, err)
	}
	g.lastCompact = idx
	g.sched.metrics.snapshotsInst.Inc()
	g.lg.Info("installed snapshot", "index", idx, "keys", len(st.kvs))
	g.notifyApplied(idx)
	return nil
}

// ReportSnapshot tells raft whether sending a snapshot to node worked.
func (g *Group) ReportSnapshot(to uint64, failed bool) {
	g.inMu.Lock()
	g.snapReports = append(g.snapReports, snapReport{to: to, failed: failed})
	g.inMu.Unlock()
	g.sched.enqueue(g)
}

// ReportUnreachable tells raft a message to node could not be sent.
func (g *Group) ReportUnreachable(to uint64) {
	g.inMu.Lock()
	g.unreachable = append(g.unreachable, to)
	g.inMu.Unlock()
	g.sched.enqueue(g)
}

type snapReport struct {
	to     uint64
	failed bool
}

func (g *Group) releaseSnapshots() {
	g.snapMu.Lock()
	defer g.snapMu.Unlock()
	for idx, h := range g.held {
		_ = h.snap.Close()
		delete(g.held, idx)
	}
	g.staged = nil
}
