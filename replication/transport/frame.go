package transport

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// A frame is [length u32][type u8][crc32c u32][payload]. length counts the
// payload only; the checksum covers the type byte and the payload, so a
// flipped type is caught as surely as a flipped payload byte.
const frameHeaderLen = 9

// frameType says what a frame's payload is, and so on which connection
// and in which direction it may appear.
type frameType uint8

const (
	frameRaft        frameType = iota + 1 // dialer → acceptor: raft messages of any groups
	frameCallReq                          // dialer → acceptor
	frameCallResp                         // acceptor → dialer
	framePing                             // dialer → acceptor, empty
	framePong                             // acceptor → dialer, empty
	frameSnapHeader                       // snapshot conn: group and the MsgSnap
	frameSnapChunk                        // snapshot conn: raw state bytes
	frameSnapTrailer                      // snapshot conn: total length and checksum
	frameSnapAck                          // snapshot conn, back to the sender
	frameTypeEnd
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func frameCRC(typ frameType, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, []byte{byte(typ)})
	return crc32.Update(c, castagnoli, payload)
}

// beginFrame reserves a header at the end of dst; the caller appends the
// payload and calls finishFrame with the returned offset. Building in place
// lets a whole batch be encoded into one buffer and written in one syscall.
func beginFrame(dst []byte) ([]byte, int) {
	start := len(dst)
	return slices.Grow(dst, frameHeaderLen)[:start+frameHeaderLen], start
}

func finishFrame(dst []byte, start int, typ frameType) []byte {
	payload := dst[start+frameHeaderLen:]
	h := dst[start : start+frameHeaderLen]
	binary.BigEndian.PutUint32(h[0:4], uint32(len(payload)))
	h[4] = byte(typ)
	binary.BigEndian.PutUint32(h[5:9], frameCRC(typ, payload))
	return dst
}

func appendFrame(dst []byte, typ frameType, payload []byte) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, payload...)
	return finishFrame(dst, start, typ)
}

// frameReader decodes frames from a stream. It never trusts a length: it
// rejects lengths beyond max before reading, and grows its buffer only as
// payload bytes actually arrive, so a peer claiming a large frame costs
// only what it really sends.
type frameReader struct {
	r   io.Reader
	max int
	hdr [frameHeaderLen]byte
	buf []byte
}

// retainBytes is the largest buffer kept between frames; a rare large
// frame's buffer is let go rather than held per connection.
const retainBytes = 1 << 20

// growStep is the first allocation for a payload that does not fit the
// current buffer; it doubles from there.
const growStep = 64 << 10

// next returns the next frame. The payload is valid until the next call.
// io.EOF means the stream ended cleanly between frames.
func (fr *frameReader) next() (frameType, []byte, error) {
	if cap(fr.buf) > retainBytes {
		fr.buf = nil
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(fr.hdr[0:4])
	typ := frameType(fr.hdr[4])
	if typ == 0 || typ >= frameTypeEnd {
		return 0, nil, fmt.Errorf("%w: unknown frame type %d", errProtocol, typ)
	}
	if uint64(n) > uint64(fr.max) {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", errProtocol, n, fr.max)
	}
	payload, err := fr.readPayload(int(n))
	if err != nil {
		return 0, nil, err
	}
	if got, want := frameCRC(typ, payload), binary.BigEndian.Uint32(fr.hdr[5:9]); got != want {
		return 0, nil, fmt.Errorf("%w: frame checksum %08x, header says %08x", errProtocol, got, want)
	}
	return typ, payload, nil
}

func (fr *frameReader) readPayload(n int) ([]byte, error) {
	b := fr.buf[:0]
	for len(b) < n {
		step := n - len(b)
		if len(b)+step > cap(b) {
			step = min(step, max(cap(b), growStep))
			nb := make([]byte, len(b), len(b)+step)
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadFull(fr.r, b[len(b):len(b)+step])
		b = b[:len(b)+m]
		if err != nil {
			return nil, fmt.Errorf("reading %d-byte frame: %w", n, noEOF(err))
		}
	}
	fr.buf = b
	return b, nil
}

// noEOF turns a clean EOF in the middle of a frame into what it is: a
// truncated frame.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
