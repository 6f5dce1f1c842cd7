package node

import (
	"strings"
	"time"

	"github.com/cairnkv/cairn/storage/bucket"
)

// Operation is what a revision did to its key, as a KV client sees it.
type Operation uint8

// Operations (a limit marker left by expiry reads as a purge).
const (
	OpPut Operation = iota
	OpDelete
	OpPurge
)

func (o Operation) String() string {
	switch o {
	case OpDelete:
		return "DEL"
	case OpPurge:
		return "PURGE"
	}
	return "PUT"
}

// Entry is one revision of a key.
type Entry struct {
	Bucket   string
	Key      string
	Value    []byte
	Revision uint64
	Created  time.Time
	Delta    uint64 // revisions still to come in the initial part of a watch
	Op       Operation
	Header   []byte // raw NATS header block as stored
}

func opOf(o bucket.Op) Operation {
	switch o {
	case bucket.OpDelete:
		return OpDelete
	case bucket.OpPurge, bucket.OpMarker:
		return OpPurge
	}
	return OpPut
}

func entryOf(bucketName string, m *bucket.Msg) Entry {
	return Entry{
		Bucket:   bucketName,
		Key:      m.Key,
		Value:    m.Data,
		Revision: m.Seq,
		Created:  time.Unix(0, m.Time).UTC(),
		Op:       opOf(m.Op),
		Header:   m.Header,
	}
}

// Header blocks written for operations made through cairn's own API, the
// same as nats.go sends, so that revisions look alike whichever client
// wrote them.
var (
	hdrDelete = []byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n")
	hdrPurge  = []byte("NATS/1.0\r\nKV-Operation: PURGE\r\nNats-Rollup: sub\r\n\r\n")
)

func hdrPurgeTTL(ttl time.Duration) []byte {
	return []byte("NATS/1.0\r\nKV-Operation: PURGE\r\nNats-Rollup: sub\r\nNats-TTL: " + ttl.String() + "\r\n\r\n")
}

func hdrCreate(ttl time.Duration) []byte {
	if ttl == 0 {
		return nil
	}
	// A Go duration, as nats.go writes it, so a fractional TTL is kept.
	return []byte("NATS/1.0\r\nNats-TTL: " + ttl.String() + "\r\n\r\n")
}

// replaceHeader returns a copy of the raw header block hdr with every key
// line replaced by one "key: value" line (added if absent). The status
// line and other lines are kept as they were.
func replaceHeader(hdr []byte, key, value string) []byte {
	if len(hdr) == 0 {
		return []byte("NATS/1.0\r\n" + key + ": " + value + "\r\n\r\n")
	}
	lines := strings.Split(strings.TrimSuffix(string(hdr), "\r\n\r\n"), "\r\n")
	out := make([]string, 0, len(lines)+1)
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, ":"); ok && i > 0 && strings.TrimSpace(k) == key {
			continue
		}
		out = append(out, l)
	}
	out = append(out, key+": "+value)
	return []byte(strings.Join(out, "\r\n") + "\r\n\r\n")
}
