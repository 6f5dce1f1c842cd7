package bucket

import (
	"encoding/binary"

	"github.com/cairnkv/cairn/storage"
)

// Key layout inside the group's space (storage.GroupPrefix):
//
//	'S'                     state record (applied index, counters)
//	'C'                     config (JSON)
//	'm' seq                 message record
//	'k' key 0x00 seq        history index (one per revision of key)
//	'l' key                 latest index: latest seq, revision count, op
//	'x' expireAt seq        TTL expiry index
type keys struct{ p []byte }

func newKeys(g storage.GroupID) keys { return keys{p: storage.GroupPrefix(g)} }

func (k keys) tag(t byte) []byte { return append(append(make([]byte, 0, len(k.p)+24), k.p...), t) }

func (k keys) state() []byte  { return k.tag('S') }
func (k keys) config() []byte { return k.tag('C') }

func (k keys) msg(seq uint64) []byte { return binary.BigEndian.AppendUint64(k.tag('m'), seq) }

func (k keys) hist(key string, seq uint64) []byte {
	b := append(k.tag('k'), key...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, seq)
}

// histPrefix is the prefix of every history entry of key.
func (k keys) histPrefix(key string) []byte { return append(append(k.tag('k'), key...), 0) }

func (k keys) latest(key string) []byte { return append(k.tag('l'), key...) }

func (k keys) expiry(at int64, seq uint64) []byte {
	b := binary.BigEndian.AppendUint64(k.tag('x'), uint64(at))
	return binary.BigEndian.AppendUint64(b, seq)
}

func seqOf(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-8:]) }

// The latest index holds the key's latest revision, its operation (so that
// listing live keys needs no message reads) and the key's revision count.
func encodeLatest(seq, count uint64, op Op) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 17), seq)
	b = binary.BigEndian.AppendUint64(b, count)
	return append(b, byte(op))
}

func decodeLatest(v []byte) (seq, count uint64, op Op) {
	if len(v) < 17 {
		return 0, 0, 0
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), Op(v[16])
}
