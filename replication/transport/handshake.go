package transport

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// The dialer opens every connection with a hello naming both ends; the
// acceptor answers with a reply. Naming the expected receiver lets a node
// refuse traffic meant for another ID (a stale address book after a node
// was replaced on the same address), and the reply lets the dialer check
// it reached the node it meant before it sends anything.
//
// hello: magic[4] version u16 kind u8 0 from u64 to u64 keepaliveMs u32 crc32c u32
// reply: magic[4] version u16 status u8 0 node u64 crc32c u32
const (
	helloLen        = 32
	replyLen        = 20
	protocolVersion = 1
)

var magic = [4]byte{'C', 'R', 'N', 'P'}

// connKind says what a connection carries.
type connKind uint8

const (
	kindStream   connKind = 1 // raft batches, calls, keepalives
	kindSnapshot connKind = 2 // one snapshot stream
)

type hello struct {
	version   uint16
	kind      connKind
	from, to  uint64
	keepalive time.Duration
}

func (h hello) encode() []byte {
	b := make([]byte, helloLen)
	copy(b, magic[:])
	binary.BigEndian.PutUint16(b[4:], h.version)
	b[6] = byte(h.kind)
	binary.BigEndian.PutUint64(b[8:], h.from)
	binary.BigEndian.PutUint64(b[16:], h.to)
	binary.BigEndian.PutUint32(b[24:], uint32(min(h.keepalive.Milliseconds(), 1<<31)))
	binary.BigEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

// decodeHello checks framing only (magic, checksum, sane fields); whether
// the version and IDs are acceptable is the acceptor's decision, because
// it answers differently to each.
func decodeHello(b []byte) (hello, error) {
	if len(b) != helloLen {
		return hello{}, fmt.Errorf("%w: hello of %d bytes", errProtocol, len(b))
	}
	if [4]byte(b[0:4]) != magic {
		return hello{}, fmt.Errorf("%w: bad magic %q", errProtocol, b[0:4])
	}
	if got, want := crc32.Checksum(b[:28], castagnoli), binary.BigEndian.Uint32(b[28:]); got != want {
		return hello{}, fmt.Errorf("%w: hello checksum mismatch", errProtocol)
	}
	h := hello{
		version:   binary.BigEndian.Uint16(b[4:]),
		kind:      connKind(b[6]),
		from:      binary.BigEndian.Uint64(b[8:]),
		to:        binary.BigEndian.Uint64(b[16:]),
		keepalive: time.Duration(binary.BigEndian.Uint32(b[24:])) * time.Millisecond,
	}
	if h.kind != kindStream && h.kind != kindSnapshot {
		return hello{}, fmt.Errorf("%w: unknown connection kind %d", errProtocol, h.kind)
	}
	if h.from == 0 {
		return hello{}, fmt.Errorf("%w: sender node ID 0", errProtocol)
	}
	return h, nil
}

// replyStatus is the acceptor's verdict on a hello.
type replyStatus uint8

const (
	replyOK         replyStatus = 0
	replyWrongNode  replyStatus = 1 // the hello named another receiver
	replyBadVersion replyStatus = 2
	replyRefused    replyStatus = 3 // too many connections or peers, or closing
)

func (s replyStatus) String() string {
	switch s {
	case replyOK:
		return "ok"
	case replyWrongNode:
		return "wrong node"
	case replyBadVersion:
		return "unsupported protocol version"
	case replyRefused:
		return "refused"
	}
	return fmt.Sprintf("status %d", uint8(s))
}

type reply struct {
	version uint16
	status  replyStatus
	node    uint64
}

func (r reply) encode() []byte {
	b := make([]byte, replyLen)
	copy(b, magic[:])
	binary.BigEndian.PutUint16(b[4:], r.version)
	b[6] = byte(r.status)
	binary.BigEndian.PutUint64(b[8:], r.node)
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return b
}

func decodeReply(b []byte) (reply, error) {
	if len(b) != replyLen || [4]byte(b[0:4]) != magic {
		return reply{}, fmt.Errorf("%w: bad handshake reply", errProtocol)
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:]) {
		return reply{}, fmt.Errorf("%w: handshake reply checksum mismatch", errProtocol)
	}
	return reply{
		version: binary.BigEndian.Uint16(b[4:]),
		status:  replyStatus(b[6]),
		node:    binary.BigEndian.Uint64(b[8:]),
	}, nil
}
