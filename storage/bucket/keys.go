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
//	'l' key                 key record: the key's stored revisions
//	                        (seq, size, op, expiry), oldest first
//	'x' expireAt seq        TTL expiry index → key
type keys struct{ p []byte }

func newKeys(g storage.GroupID) keys { return keys{p: storage.GroupPrefix(g)} }

func (k keys) tag(t byte) []byte { return append(append(make([]byte, 0, len(k.p)+24), k.p...), t) }

func (k keys) state() []byte  { return k.tag('S') }
func (k keys) config() []byte { return k.tag('C') }

func (k keys) msg(seq uint64) []byte { return binary.BigEndian.AppendUint64(k.tag('m'), seq) }

func (k keys) latest(key string) []byte { return append(k.tag('l'), key...) }

func (k keys) expiry(at int64, seq uint64) []byte {
	b := binary.BigEndian.AppendUint64(k.tag('x'), uint64(at))
	return binary.BigEndian.AppendUint64(b, seq)
}

func seqOf(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-8:]) }
