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
	case KindSetConfig:
		if cmd.Config == nil {
			return Result{Err: errBadCommand}, nil
		}
		raw, err := json.Marshal(cmd.Config)
		if err != nil {
			return Result{Err: err}, nil
		}
		s.workCfg = cmd.Config.Clone()
		return Result{}, b.Set(s.k.config(), raw, nil)
	}
	return Result{}, nil
}

// applyPublish validates every publish against the state as it would be
// after the earlier ones, then stores them all, or none.
func (s *State) applyPublish(b *pebble.Batch, pubs []Publish, now int64) (Result, error) {
	if err := s.validate(b, pubs); err != nil {
		return Result{Err: err}, nil
	}
	res := Result{Seqs: make([]uint64, len(pubs))}
	for i := range pubs {
		seq, err := s.store(b, &pubs[i], now)
		if err != nil {
			return Result{}, err
		}
		res.Seqs[i] = seq
	}
	return res, nil
}

func (s *State) validate(b *pebble.Batch, pubs []Publish) error {
	cfg := &s.workCfg
	last := s.work.Last
	var latest map[string]uint64 // keys written earlier in this command
	var latestOps map[string]Op
	if len(pubs) > 1 {
		latest = make(map[string]uint64, len(pubs))
		latestOps = make(map[string]Op, len(pubs))
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
		if cfg.MaxValueSize >= 0 && cfg.MaxValueSize != 0 &&
			(len(p.Header) > int(cfg.MaxValueSize) || len(p.Data) > int(cfg.MaxValueSize)-len(p.Header)) {
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
			cur, ok := latest[key]
			if !ok {
				seq, _, err := s.latestOf(b, key)
				if err != nil {
					return err
				}
				cur = seq
			}
			if cur != p.ExpectKeySeq {
				return fail(&WrongSequenceError{Index: i, Key: key, Actual: cur})
			}
		}
		if p.ExpectNoValue {
			seq, op, ok := latest[p.Key], latestOps[p.Key], false
			if _, ok = latest[p.Key]; !ok {
				var count uint64
				var err error
				seq, count, op, err = s.latestEntry(b, p.Key)
				if err != nil {
					return err
				}
				if count == 0 {
					seq = 0
				}
			}
			if seq != 0 && !op.IsRemoval() {
				return fail(&WrongSequenceError{Index: i, Key: p.Key, Actual: seq})
			}
		}
		size := Size(s.subjLen+len(p.Key), len(p.Header), len(p.Data))
		if cfg.MaxBytes > 0 && bytes+size > uint64(cfg.MaxBytes) && !s.freesEnough(b, p, size) {
			return fail(ErrBucketFull)
		}
		bytes += size
		last++
		if latest != nil {
			latest[p.Key] = last
			latestOps[p.Key] = p.Op
		}
	}
	return nil
}

// freesEnough reports whether storing p rolls off an older revision of its
// key at least as large as p (nats-server allows such a write in a full
// bucket, since the limit holds again once the old revision is gone).
func (s *State) freesEnough(b *pebble.Batch, p *Publish, size uint64) bool {
	_, count, err := s.latestOf(b, p.Key)
	if err != nil || count == 0 || (p.Rollup == RollupNone && int64(count) < s.workCfg.History) {
		return false
	}
	oldest, err := s.oldestOf(b, p.Key)
	if err != nil || oldest == nil {
		return false
	}
	return s.sizeOf(oldest) >= size
}

func (s *State) sizeOf(m *Msg) uint64 { return Size(s.subjLen+len(m.Key), len(m.Header), len(m.Data)) }

// store writes one publish and enforces its rollup and the history limit.
func (s *State) store(b *pebble.Batch, p *Publish, now int64) (uint64, error) {
	seq := s.work.Last + 1
	m := &Msg{Seq: seq, Key: p.Key, Op: p.Op, Header: p.Header, Data: p.Data, Time: now, TTL: p.TTL}
	if err := b.Set(s.k.msg(seq), encodeMsg(m, s.workCfg.Compression), nil); err != nil {
		return 0, err
	}
	if err := b.Set(s.k.hist(p.Key, seq), nil, nil); err != nil {
		return 0, err
	}
	_, count, err := s.latestOf(b, p.Key)
	if err != nil {
		return 0, err
	}
	if count == 0 {
		s.work.Keys++
	}
	if err := b.Set(s.k.latest(p.Key), encodeLatest(seq, count+1, p.Op), nil); err != nil {
		return 0, err
	}
	if p.TTL > 0 {
		if err := b.Set(s.k.expiry(now+p.TTL, seq), nil, nil); err != nil {
			return 0, err
		}
	}
	if s.work.Msgs == 0 {
		s.work.First, s.work.FirstTime = seq, now
	}
	s.work.Last, s.work.LastTime = seq, now
	s.work.Msgs++
	s.work.Bytes += s.sizeOf(m)

	switch p.Rollup {
	case RollupKey:
		if _, err := s.removeKeyBelow(b, p.Key, seq, 0); err != nil {
			return 0, err
		}
	case RollupAll:
		if _, err := s.purgeAllBelow(b, seq); err != nil {
			return 0, err
		}
	}
	if h := s.workCfg.History; h > 0 && uint64(h) < count+1 {
		if _, err := s.removeKeyBelow(b, p.Key, seq, uint64(h)); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

// removeKeyBelow removes revisions of key below seq, keeping the newest
// keep revisions of the key (counting the one at seq if present).
func (s *State) removeKeyBelow(b *pebble.Batch, key string, seq, keep uint64) (uint64, error) {
	seqs, err := s.keySeqs(b, key)
	if err != nil {
		return 0, err
	}
	var n uint64
	cut := len(seqs) - int(keep)
	if keep == 0 {
		cut = len(seqs)
	}
	for i, q := range seqs {
		if i >= cut || q >= seq {
			break
		}
		if err := s.remove(b, q); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *State) purgeAllBelow(b *pebble.Batch, seq uint64) (uint64, error) {
	var n uint64
	for q := s.work.First; q < seq && s.work.Msgs > 0; {
		next, ok, err := s.nextSeq(b, q)
		if err != nil || !ok || next >= seq {
			return n, err
		}
		if err := s.remove(b, next); err != nil {
			return n, err
		}
		n++
		q = next + 1
	}
	return n, nil
}

// remove deletes one stored revision and maintains every index and counter.
func (s *State) remove(b *pebble.Batch, seq uint64) error {
	m, err := s.getMsg(b, seq)
	if err != nil {
		return err
	}
	if err := b.Delete(s.k.msg(seq), nil); err != nil {
		return err
	}
	if err := b.Delete(s.k.hist(m.Key, seq), nil); err != nil {
		return err
	}
	if m.TTL > 0 {
		if err := b.Delete(s.k.expiry(m.Time+m.TTL, seq), nil); err != nil {
			return err
		}
	}
	latest, count, err := s.latestOf(b, m.Key)
	if err != nil {
		return err
	}
	switch {
	case count <= 1:
		s.work.Keys--
		err = b.Delete(s.k.latest(m.Key), nil)
	case latest == seq:
		var prev *Msg
		prev, err = s.lastOfKey(b, m.Key)
		if err == nil {
			err = b.Set(s.k.latest(m.Key), encodeLatest(prev.Seq, count-1, prev.Op), nil)
		}
	default:
		var op Op
		_, _, op, err = s.latestEntry(b, m.Key)
		if err == nil {
			err = b.Set(s.k.latest(m.Key), encodeLatest(latest, count-1, op), nil)
		}
	}
	if err != nil {
		return err
	}
	s.work.Msgs--
	s.work.Bytes -= s.sizeOf(m)
	if seq == s.work.First {
		return s.advanceFirst(b)
	}
	return nil
}

func (s *State) advanceFirst(b *pebble.Batch) error {
	if s.work.Msgs == 0 {
		s.work.First, s.work.FirstTime = s.work.Last+1, 0
		return nil
	}
	next, ok, err := s.nextSeq(b, s.work.First)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("bucket state damaged: %d messages counted but none found after %d", s.work.Msgs, s.work.First)
	}
	m, err := s.getMsg(b, next)
	if err != nil {
		return err
	}
	s.work.First, s.work.FirstTime = next, m.Time
	return nil
}

func (s *State) applyPurge(b *pebble.Batch, req PurgeRequest) (Result, error) {
	if s.workCfg.DenyPurge {
		return Result{Err: ErrPurgeDenied}, nil
	}
	if req.Keep > 0 && req.Seq > 0 {
		return Result{Err: fmt.Errorf("%w: keep and seq are mutually exclusive", ErrInvalidPurge)}, nil
	}
	seqs, err := s.matchingSeqs(b, req.Filter)
	if err != nil {
		return Result{}, err
	}
	cut := len(seqs)
	if req.Keep > 0 {
		cut = max(0, len(seqs)-int(req.Keep))
	}
	var n uint64
	for _, q := range seqs[:cut] {
		if req.Seq > 0 && q >= req.Seq {
			break
		}
		if err := s.remove(b, q); err != nil {
			return Result{}, err
		}
		n++
	}
	if req.Filter == "" && req.Keep == 0 && req.Seq == 0 && s.work.Msgs == 0 {
		s.work.First = s.work.Last + 1
	}
	return Result{Purged: n}, nil
}

// applyExpire removes revisions whose max age or TTL has passed at now, and
// leaves a limit marker on each key whose last revision expired when the
// bucket has a marker TTL.
func (s *State) applyExpire(b *pebble.Batch, now int64) (Result, error) {
	due, err := s.dueSeqs(b, now, maxExpirePerCommand)
	if err != nil {
		return Result{}, err
	}
	var emptied []string
	var n uint64
	for _, seq := range due {
		m, err := s.getMsg(b, seq)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		if err := s.remove(b, seq); err != nil {
			return Result{}, err
		}
		n++
		if _, count, err := s.latestOf(b, m.Key); err != nil {
			return Result{}, err
		} else if count == 0 && m.Op != OpMarker && m.Op != OpPurge {
			emptied = append(emptied, m.Key)
		}
	}
	if mt := s.workCfg.MarkerTTL; mt > 0 {
		t := max(now, s.work.LastTime)
		for _, key := range emptied {
			p := &Publish{Key: key, Op: OpMarker, Header: markerHeader(mt), TTL: int64(mt)}
			if _, err := s.store(b, p, t); err != nil {
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
