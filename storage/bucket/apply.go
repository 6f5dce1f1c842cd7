package bucket

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// maxExpirePerCommand bounds the work of one expire command; the leader
// proposes another while anything is still due.
const maxExpirePerCommand = 4096

// Apply applies one committed command into b, which must be an indexed
// batch so that later commands in the same batch see earlier ones. A
// returned Result.Err is a deterministic outcome for the client; a
// returned error means storage failed and the group must stop.
func (s *State) Apply(b *pebble.Batch, data []byte) (Result, error) {
	cmd, err := DecodeCommand(data)
	if err != nil {
		// A command that cannot be decoded was still committed: every
		// replica skips it identically.
		return Result{Err: err}, nil
	}
	now := max(cmd.Time, s.work.LastTime)
	switch cmd.Kind {
	case KindPublish:
		return s.applyPublish(b, cmd.Pubs, now)
	case KindPurge:
		return s.applyPurge(b, cmd.Purge)
	case KindExpire:
		return s.applyExpire(b, cmd.Time)
	case KindRestore:
		return s.applyRestore(b, &cmd.Restore)
	case KindSetConfig:
		if cmd.Config == nil {
			return Result{Err: errBadCommand}, nil
		}
		raw, err := json.Marshal(cmd.Config)
		if err != nil {
			return Result{Err: err}, nil
		}
		old := s.workCfg.History
		s.workCfg = cmd.Config.Clone()
		if err := b.Set(s.k.config(), raw, nil); err != nil {
			return Result{}, err
		}
		// A lower history limit applies at once to every key, as when
		// nats-server lowers max_msgs_per_subject.
		if h := s.workCfg.History; h > 0 && old > h {
			n, err := s.trimHistory(b, int(h))
			return Result{Purged: n}, err
		}
		return Result{}, nil
	}
	return Result{}, nil
}

// trimHistory drops the oldest revisions of every key that has more than
// h.
func (s *State) trimHistory(b *pebble.Batch, h int) (uint64, error) {
	var over []string
	err := s.forLatest(b, ">", func(key string, rec keyRecord) bool {
		if len(rec.revs) > h {
			over = append(over, key)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, key := range over {
		rec, err := s.applyRecord(b, key)
		if err != nil {
			return n, err
		}
		drop := len(rec.revs) - h
		for _, r := range rec.revs[:drop] {
			if err := s.dropRev(b, r); err != nil {
				return n, err
			}
		}
		n += uint64(drop)
		rec.revs = rec.revs[drop:]
		if err := s.putKeyRecord(b, key, rec); err != nil {
			return n, err
		}
	}
	return n, nil
}

// applyPublish validates every publish against the state as it would be
// after the earlier ones, then stores them all, or none.
func (s *State) applyPublish(b *pebble.Batch, pubs []Publish, now int64) (Result, error) {
	if err := s.validate(b, pubs); err != nil {
		return Result{Err: err}, nil
	}
	res := Result{Seqs: make([]uint64, len(pubs)), Prev: make([]uint64, len(pubs))}
	for i := range pubs {
		seq, prev, err := s.store(b, &pubs[i], now)
		if err != nil {
			return Result{}, err
		}
		res.Seqs[i], res.Prev[i] = seq, prev
	}
	return res, nil
}

func (s *State) validate(b *pebble.Batch, pubs []Publish) error {
	cfg := &s.workCfg
	last := s.work.Last
	// Keys written earlier in this command: their latest revision and op.
	var pending map[string]keyRev
	if len(pubs) > 1 {
		pending = make(map[string]keyRev, len(pubs))
	}
	latestOf := func(key string) (keyRev, error) {
		if r, ok := pending[key]; ok {
			return r, nil
		}
		rec, err := s.applyRecord(b, key)
		return rec.latest(), err
	}
	bytes := s.work.Bytes
	for i := range pubs {
		p := &pubs[i]
		fail := func(err error) error {
			if len(pubs) == 1 {
				return err
			}
			return &PublishError{Index: i, Err: err}
		}
		if cfg.MaxValueSize > 0 && (len(p.Header) > int(cfg.MaxValueSize) || len(p.Data) > int(cfg.MaxValueSize)-len(p.Header)) {
			return fail(ErrValueTooLarge)
		}
		if p.TTL != 0 && !cfg.AllowMsgTTL {
			return fail(ErrTTLDisabled)
		}
		if p.Rollup != RollupNone && (!cfg.AllowRollup || cfg.DenyPurge) {
			return fail(ErrRollupDisabled)
		}
		if p.HasExpectLastSeq && p.ExpectLastSeq != last {
			return fail(&WrongSequenceError{Index: i, Key: p.Key, Actual: last})
		}
		if p.HasExpectKeySeq {
			key := p.ExpectKey
			if key == "" {
				key = p.Key
			}
			cur, err := latestOf(key)
			if err != nil {
				return err
			}
			if cur.Seq != p.ExpectKeySeq {
				return fail(&WrongSequenceError{Index: i, Key: key, Actual: cur.Seq})
			}
		}
		if p.ExpectNoValue {
			cur, err := latestOf(p.Key)
			if err != nil {
				return err
			}
			if cur.Seq != 0 && !cur.Op.IsRemoval() {
				return fail(&WrongSequenceError{Index: i, Key: p.Key, Actual: cur.Seq})
			}
		}
		size := Size(s.subjLen+len(p.Key), len(p.Header), len(p.Data))
		if cfg.MaxBytes > 0 && bytes+size > uint64(cfg.MaxBytes) {
			ok, err := s.freesEnough(b, p, size)
			if err != nil {
				return err
			}
			if !ok {
				return fail(ErrBucketFull)
			}
		}
		bytes += size
		last++
		if pending != nil {
			pending[p.Key] = keyRev{Seq: last, Op: p.Op}
		}
	}
	return nil
}

// freesEnough reports whether storing p rolls off an older revision of its
// key at least as large as p (nats-server allows such a write in a full
// bucket, since the limit holds again once the old revision is gone).
func (s *State) freesEnough(b *pebble.Batch, p *Publish, size uint64) (bool, error) {
	rec, err := s.applyRecord(b, p.Key)
	if err != nil || len(rec.revs) == 0 {
		return false, err
	}
	if p.Rollup == RollupNone && int64(len(rec.revs)) < s.workCfg.History {
		return false, nil
	}
	return uint64(rec.revs[0].Size) >= size, nil
}

// store writes one publish and enforces its rollup and the history limit.
// It returns the new revision and the key's previous latest revision.
func (s *State) store(b *pebble.Batch, p *Publish, now int64) (seq, prev uint64, err error) {
	seq = s.work.Last + 1
	prev, err = s.storeAt(b, p, seq, now)
	return seq, prev, err
}

// storeAt is store with the revision and time given; seq must be above
// the last revision.
func (s *State) storeAt(b *pebble.Batch, p *Publish, seq uint64, now int64) (prev uint64, err error) {
	m := &Msg{Seq: seq, Key: p.Key, Op: p.Op, Header: p.Header, Data: p.Data, Time: now, TTL: p.TTL}
	size := Size(s.subjLen+len(p.Key), len(p.Header), len(p.Data))
	if err = b.Set(s.k.msg(seq), encodeMsg(m, s.workCfg.Compression), nil); err != nil {
		return 0, err
	}
	rev := keyRev{Seq: seq, Size: uint32(size), Op: p.Op}
	if p.TTL > 0 {
		rev.ExpireAt = now + p.TTL
		if err := b.Set(s.k.expiry(rev.ExpireAt, seq), []byte(p.Key), nil); err != nil {
			return 0, err
		}
	}
	if p.Rollup == RollupAll {
		if _, err := s.purgeAllBelow(b, seq); err != nil {
			return 0, err
		}
	}
	rec, err := s.applyRecord(b, p.Key)
	if err != nil {
		return 0, err
	}
	prev = rec.latest().Seq
	if len(rec.revs) == 0 {
		s.work.Keys++
	}
	if s.work.Msgs == 0 {
		s.work.First, s.work.FirstTime, s.workFirstExact = seq, now, true
	}
	s.work.Last, s.work.LastTime = seq, now
	s.work.Msgs++
	s.work.Bytes += size
	rec.revs = append(rec.revs, rev)

	drop := 0
	if p.Rollup == RollupKey {
		drop = len(rec.revs) - 1
	} else if h := int(s.workCfg.History); h > 0 && len(rec.revs) > h {
		drop = len(rec.revs) - h
	}
	for _, old := range rec.revs[:drop] {
		if err := s.dropRev(b, old); err != nil {
			return 0, err
		}
	}
	rec.revs = rec.revs[drop:]
	s.cacheRecord(p.Key, rec)
	return prev, b.Set(s.k.latest(p.Key), rec.encode(), nil)
}

// applyRestore stores backed-up messages with their own revisions and
// times, all or none, then raises the last revision to SetLast.
func (s *State) applyRestore(b *pebble.Batch, r *Restore) (Result, error) {
	last := s.work.Last
	for i := range r.Msgs {
		m := &r.Msgs[i]
		if m.Seq <= last {
			return Result{Err: fmt.Errorf("%w: message %d has revision %d, not above %d", ErrRestoreOrder, i, m.Seq, last)}, nil
		}
		last = m.Seq
	}
	res := Result{Seqs: make([]uint64, len(r.Msgs))}
	for i := range r.Msgs {
		m := &r.Msgs[i]
		p := &Publish{Key: m.Key, Op: m.Op, Header: m.Header, Data: m.Data, TTL: m.TTL}
		if _, err := s.storeAt(b, p, m.Seq, m.Time); err != nil {
			return Result{}, err
		}
		res.Seqs[i] = m.Seq
	}
	if r.SetLast > s.work.Last {
		s.work.Last = r.SetLast
		if s.work.Msgs == 0 {
			s.work.First, s.work.FirstTime, s.workFirstExact = r.SetLast+1, 0, true
		}
	}
	if r.SetLast != 0 && r.SetLast == s.work.Last && r.LastTime > s.work.LastTime {
		s.work.LastTime = r.LastTime
	}
	return res, nil
}

// dropRev deletes a revision's message and expiry entry and its share of
// the counters; the caller updates the key record.
func (s *State) dropRev(b *pebble.Batch, r keyRev) error {
	if err := b.Delete(s.k.msg(r.Seq), nil); err != nil {
		return err
	}
	if r.ExpireAt != 0 {
		if err := b.Delete(s.k.expiry(r.ExpireAt, r.Seq), nil); err != nil {
			return err
		}
	}
	s.work.Msgs--
	s.work.Bytes -= uint64(r.Size)
	if s.work.Msgs == 0 {
		s.work.First, s.work.FirstTime, s.workFirstExact = s.work.Last+1, 0, true
	} else if r.Seq == s.work.First {
		s.workFirstExact = false
	}
	// Otherwise First stays a lower bound; Stats resolves it when asked.
	return nil
}

// removeSeqs removes the given revisions of one key.
func (s *State) removeSeqs(b *pebble.Batch, key string, seqs map[uint64]bool) (uint64, error) {
	rec, err := s.applyRecord(b, key)
	if err != nil {
		return 0, err
	}
	kept := rec.revs[:0]
	var n uint64
	for _, r := range rec.revs {
		if !seqs[r.Seq] {
			kept = append(kept, r)
			continue
		}
		if err := s.dropRev(b, r); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	rec.revs = kept
	return n, s.putKeyRecord(b, key, rec)
}

// remove deletes one stored revision, reading its key from the message.
func (s *State) remove(b *pebble.Batch, seq uint64) error {
	v, closer, err := b.Get(s.k.msg(seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m, err := decodeMsgMeta(seq, v)
	closer.Close()
	if err != nil {
		return err
	}
	_, err = s.removeSeqs(b, m.Key, map[uint64]bool{seq: true})
	return err
}

func (s *State) purgeAllBelow(b *pebble.Batch, seq uint64) (uint64, error) {
	byKey := map[string]map[uint64]bool{}
	err := s.scanMeta(b, s.work.First, func(m *Msg) bool {
		if m.Seq >= seq {
			return false
		}
		if byKey[m.Key] == nil {
			byKey[m.Key] = map[uint64]bool{}
		}
		byKey[m.Key][m.Seq] = true
		return true
	})
	if err != nil {
		return 0, err
	}
	var n uint64
	for key, seqs := range byKey {
		k, err := s.removeSeqs(b, key, seqs)
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

func (s *State) applyPurge(b *pebble.Batch, req PurgeRequest) (Result, error) {
	if s.workCfg.DenyPurge {
		return Result{Err: ErrPurgeDenied}, nil
	}
	if req.Keep > 0 && req.Seq > 0 {
		return Result{Err: fmt.Errorf("%w: keep and seq are mutually exclusive", ErrInvalidPurge)}, nil
	}
	revs, err := s.matchingRevs(b, req.Filter)
	if err != nil {
		return Result{}, err
	}
	cut := len(revs)
	if req.Keep > 0 {
		cut = max(0, len(revs)-int(req.Keep))
	}
	byKey := map[string]map[uint64]bool{}
	for _, r := range revs[:cut] {
		if req.Seq > 0 && r.seq >= req.Seq {
			break
		}
		if byKey[r.key] == nil {
			byKey[r.key] = map[uint64]bool{}
		}
		byKey[r.key][r.seq] = true
	}
	var n uint64
	for key, seqs := range byKey {
		k, err := s.removeSeqs(b, key, seqs)
		if err != nil {
			return Result{}, err
		}
		n += k
	}
	return Result{Purged: n}, nil
}

// applyExpire removes revisions whose max age or TTL has passed at now, and
// leaves a limit marker on each key whose last revision expired when the
// bucket has a marker TTL.
func (s *State) applyExpire(b *pebble.Batch, now int64) (Result, error) {
	due, err := s.dueRevs(b, now, maxExpirePerCommand)
	if err != nil {
		return Result{}, err
	}
	byKey := map[string]map[uint64]bool{}
	var order []string
	for _, r := range due {
		if byKey[r.key] == nil {
			byKey[r.key] = map[uint64]bool{}
			order = append(order, r.key)
		}
		byKey[r.key][r.seq] = true
	}
	var n uint64
	var emptied []string
	for _, key := range order {
		before, err := s.applyRecord(b, key)
		if err != nil {
			return Result{}, err
		}
		k, err := s.removeSeqs(b, key, byKey[key])
		if err != nil {
			return Result{}, err
		}
		n += k
		last := before.latest()
		if k > 0 && int(k) == len(before.revs) && last.Op != OpMarker && last.Op != OpPurge {
			emptied = append(emptied, key)
		}
	}
	if mt := s.workCfg.MarkerTTL; mt > 0 {
		t := max(now, s.work.LastTime)
		for _, key := range emptied {
			p := &Publish{Key: key, Op: OpMarker, Header: markerHeader(mt), TTL: int64(mt)}
			if _, _, err := s.store(b, p, t); err != nil {
				return Result{}, err
			}
		}
	}
	return Result{Purged: n}, nil
}

// markerHeader is the header block of a limit marker, as nats-server writes it.
func markerHeader(ttl time.Duration) []byte {
	return []byte("NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: " + ttl.String() + "\r\nNats-Rollup: sub\r\n\r\n")
}
