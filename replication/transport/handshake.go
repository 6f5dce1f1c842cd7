package transport

import (
	"crypto/rand"
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
// With a key (Config.Key), both ends prove they hold it before anything
// else passes (auth.go): the hello and the reply each carry a fresh
// nonce, the reply a MAC over both (the acceptor's proof), and the dialer
// then sends a MAC of its own.
//
// hello: magic[4] version u16 kind u8 flags u8 from u64 to u64 keepaliveMs u32 nonce[16] crc32c u32
// reply: magic[4] version u16 status u8 flags u8 node u64 nonce[16] mac[32] crc32c u32
// proof: mac[32] (only when both ends authenticate)
const (
	helloLen = 48
	replyLen = 68
	// versionLen is how much of a hello is read before its length is
	// known to be this version's: magic and version.
	versionLen      = 6
	protocolVersion = 2
	nonceLen        = 16
)

var magic = [4]byte{'C', 'R', 'N', 'P'}

// connKind says what a connection carries.
type connKind uint8

const (
	kindStream   connKind = 1 // raft batches, calls, keepalives
	kindSnapshot connKind = 2 // one snapshot stream
)

// flagKeyed, in a hello or a reply: the sender holds a key and
// authenticates.
const flagKeyed = 1

type hello struct {
	version   uint16
	kind      connKind
	flags     uint8
	from, to  uint64
	keepalive time.Duration
	nonce     [nonceLen]byte
}

func (h hello) encode() []byte {
	b := make([]byte, helloLen)
	copy(b, magic[:])
	binary.BigEndian.PutUint16(b[4:], h.version)
	b[6] = byte(h.kind)
	b[7] = h.flags
	binary.BigEndian.PutUint64(b[8:], h.from)
	binary.BigEndian.PutUint64(b[16:], h.to)
	binary.BigEndian.PutUint32(b[24:], uint32(min(h.keepalive.Milliseconds(), 1<<31)))
	copy(b[28:44], h.nonce[:])
	binary.BigEndian.PutUint32(b[44:], crc32.Checksum(b[:44], castagnoli))
	return b
}

// decodeHello checks framing only (magic, checksum, sane fields); whether
// the version, IDs and keys are acceptable is the acceptor's decision,
// because it answers differently to each.
func decodeHello(b []byte) (hello, error) {
	if len(b) != helloLen {
		return hello{}, fmt.Errorf("%w: hello of %d bytes", errProtocol, len(b))
	}
	if [4]byte(b[0:4]) != magic {
		return hello{}, fmt.Errorf("%w: bad magic %q", errProtocol, b[0:4])
	}
	if got, want := crc32.Checksum(b[:44], castagnoli), binary.BigEndian.Uint32(b[44:]); got != want {
		return hello{}, fmt.Errorf("%w: hello checksum mismatch", errProtocol)
	}
	h := hello{
		version:   binary.BigEndian.Uint16(b[4:]),
		kind:      connKind(b[6]),
		flags:     b[7],
		from:      binary.BigEndian.Uint64(b[8:]),
		to:        binary.BigEndian.Uint64(b[16:]),
		keepalive: time.Duration(binary.BigEndian.Uint32(b[24:])) * time.Millisecond,
		nonce:     [nonceLen]byte(b[28:44]),
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
	replyNeedKey    replyStatus = 4 // the acceptor authenticates; the dialer does not
	replyNoKey      replyStatus = 5 // the dialer authenticates; the acceptor has no key
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
	case replyNeedKey:
		return "it requires a peer key and this node has none"
	case replyNoKey:
		return "it has no peer key and this node requires one"
	}
	return fmt.Sprintf("status %d", uint8(s))
}

type reply struct {
	version uint16
	status  replyStatus
	flags   uint8
	node    uint64
	nonce   [nonceLen]byte
	mac     [macLen]byte
}

// replyMACOffset is where a reply's MAC starts: the MAC covers the bytes
// before it.
const replyMACOffset = 32

func (r reply) encode() []byte {
	b := make([]byte, replyLen)
	copy(b, magic[:])
	binary.BigEndian.PutUint16(b[4:], r.version)
	b[6] = byte(r.status)
	b[7] = r.flags
	binary.BigEndian.PutUint64(b[8:], r.node)
	copy(b[16:32], r.nonce[:])
	copy(b[replyMACOffset:64], r.mac[:])
	binary.BigEndian.PutUint32(b[64:], crc32.Checksum(b[:64], castagnoli))
	return b
}

func decodeReply(b []byte) (reply, error) {
	if len(b) != replyLen || [4]byte(b[0:4]) != magic {
		return reply{}, fmt.Errorf("%w: bad handshake reply", errProtocol)
	}
	if crc32.Checksum(b[:64], castagnoli) != binary.BigEndian.Uint32(b[64:]) {
		return reply{}, fmt.Errorf("%w: handshake reply checksum mismatch", errProtocol)
	}
	return reply{
		version: binary.BigEndian.Uint16(b[4:]),
		status:  replyStatus(b[6]),
		flags:   b[7],
		node:    binary.BigEndian.Uint64(b[8:]),
		nonce:   [nonceLen]byte(b[16:32]),
		mac:     [macLen]byte(b[replyMACOffset:64]),
	}, nil
}

// newNonce returns a fresh random nonce.
func newNonce() [nonceLen]byte {
	var n [nonceLen]byte
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails on Linux
	return n
}
