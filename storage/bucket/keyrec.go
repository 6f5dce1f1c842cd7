package bucket

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// keyRev is what the key index remembers of one stored revision: enough to
// remove it (size for accounting, expiry for the TTL index) without reading
// the message, and its op so that listing live keys needs no message reads.
type keyRev struct {
	Seq      uint64
	Size     uint32
	Op       Op
	ExpireAt int64 // 0: no TTL
}

const keyRevLen = 8 + 4 + 1 + 8

// keyRecord lists a key's stored revisions, oldest first. History is at
// most 64, so a record stays small and one point read gives a key's whole
// history.
type keyRecord struct{ revs []keyRev }

func (r *keyRecord) latest() keyRev {
	if len(r.revs) == 0 {
		return keyRev{}
	}
	return r.revs[len(r.revs)-1]
}

func (r *keyRecord) encode() []byte {
	b := make([]byte, 0, len(r.revs)*keyRevLen)
	for _, v := range r.revs {
		b = binary.BigEndian.AppendUint64(b, v.Seq)
		b = binary.BigEndian.AppendUint32(b, v.Size)
		b = append(b, byte(v.Op))
		b = binary.BigEndian.AppendUint64(b, uint64(v.ExpireAt))
	}
	return b
}

var errDamagedKeyRecord = errors.New("damaged key record")

func decodeKeyRecord(v []byte) (keyRecord, error) {
	if len(v)%keyRevLen != 0 {
		return keyRecord{}, errDamagedKeyRecord
	}
	r := keyRecord{revs: make([]keyRev, len(v)/keyRevLen)}
	for i := range r.revs {
		p := v[i*keyRevLen:]
		r.revs[i] = keyRev{
			Seq:      binary.BigEndian.Uint64(p),
			Size:     binary.BigEndian.Uint32(p[8:]),
			Op:       Op(p[12]),
			ExpireAt: int64(binary.BigEndian.Uint64(p[13:])),
		}
	}
	return r, nil
}

// keyRecordOf reads a key's record (empty when the key has no revision).
func (s *State) keyRecordOf(r pebble.Reader, key string) (keyRecord, error) {
	v, closer, err := r.Get(s.k.latest(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return keyRecord{}, nil
	}
	if err != nil {
		return keyRecord{}, err
	}
	defer closer.Close()
	rec, err := decodeKeyRecord(v)
	if err != nil {
		return keyRecord{}, fmt.Errorf("key %q: %w", key, err)
	}
	return rec, nil
}

// recCacheMax bounds the apply path's cache of key records.
const recCacheMax = 1 << 16

// applyRecord reads a key's record for the apply path, through a
// write-through cache of records that the apply path itself wrote or read
// (it is the only writer, so the cache is exact). The returned record is a
// copy the caller may modify.
func (s *State) applyRecord(b *pebble.Batch, key string) (keyRecord, error) {
	if rec, ok := s.recCache[key]; ok {
		return keyRecord{revs: append([]keyRev(nil), rec.revs...)}, nil
	}
	rec, err := s.keyRecordOf(b, key)
	if err == nil {
		s.cacheRecord(key, rec)
	}
	return keyRecord{revs: append([]keyRev(nil), rec.revs...)}, err
}

func (s *State) cacheRecord(key string, rec keyRecord) {
	if s.recCache == nil || len(s.recCache) >= recCacheMax {
		s.recCache = make(map[string]keyRecord, 1024)
	}
	s.recCache[key] = rec
}

func (s *State) putKeyRecord(b *pebble.Batch, key string, rec keyRecord) error {
	s.cacheRecord(key, rec)
	if len(rec.revs) == 0 {
		s.work.Keys--
		return b.Delete(s.k.latest(key), nil)
	}
	return b.Set(s.k.latest(key), rec.encode(), nil)
}
