package bucket

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// Op is what a revision does to its key.
type Op uint8

// Operations. OpMarker is a limit marker (Nats-Marker-Reason) left when
// expiry removed a key's last revision; clients see it as a purge.
const (
	OpPut Op = iota
	OpDelete
	OpPurge
	OpMarker
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "PUT"
	case OpDelete:
		return "DEL"
	case OpPurge:
		return "PURGE"
	case OpMarker:
		return "MARKER"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// IsRemoval reports whether the op hides the key (delete, purge, marker).
func (o Op) IsRemoval() bool { return o != OpPut }

// Msg is one stored revision.
type Msg struct {
	Seq    uint64
	Key    string
	Op     Op
	Header []byte // raw NATS/1.0 header block, verbatim; nil when none
	Data   []byte
	Time   int64 // unix nanoseconds, assigned by the leader
	TTL    int64 // nanoseconds; 0 none
}

// Size is the message's accounted size, computed like nats-server's file
// store (record framing + subject + headers + payload) so that bucket byte
// counts and limits match the reference.
func Size(subjectLen, hdrLen, dataLen int) uint64 {
	if hdrLen == 0 {
		return uint64(22 + subjectLen + dataLen + 8)
	}
	return uint64(22 + subjectLen + 4 + hdrLen + dataLen + 8)
}

const flagCompressed = 1

// encodeMsg encodes a message record (the seq lives in the key).
func encodeMsg(m *Msg, compress bool) []byte {
	data := m.Data
	flags := byte(0)
	if compress && len(data) > 64 {
		if c := s2.Encode(nil, data); len(c) < len(data) {
			data, flags = c, flagCompressed
		}
	}
	buf := make([]byte, 0, 2+16+2*binary.MaxVarintLen32+len(m.Key)+len(m.Header)+len(data))
	buf = append(buf, flags, byte(m.Op))
	buf = binary.BigEndian.AppendUint64(buf, uint64(m.Time))
	buf = binary.BigEndian.AppendUint64(buf, uint64(m.TTL))
	buf = binary.AppendUvarint(buf, uint64(len(m.Key)))
	buf = append(buf, m.Key...)
	buf = binary.AppendUvarint(buf, uint64(len(m.Header)))
	buf = append(buf, m.Header...)
	return append(buf, data...)
}

var errDamaged = errors.New("damaged message record")

// decodeMsg decodes a record; the returned slices are copies.
func decodeMsg(seq uint64, v []byte) (*Msg, error) {
	if len(v) < 18 {
		return nil, fmt.Errorf("seq %d: %w", seq, errDamaged)
	}
	m := &Msg{Seq: seq, Op: Op(v[1])}
	flags := v[0]
	m.Time = int64(binary.BigEndian.Uint64(v[2:]))
	m.TTL = int64(binary.BigEndian.Uint64(v[10:]))
	rest := v[18:]
	kl, n := binary.Uvarint(rest)
	if n <= 0 || uint64(len(rest)-n) < kl {
		return nil, fmt.Errorf("seq %d: %w", seq, errDamaged)
	}
	m.Key = string(rest[n : n+int(kl)])
	rest = rest[n+int(kl):]
	hl, n := binary.Uvarint(rest)
	if n <= 0 || uint64(len(rest)-n) < hl {
		return nil, fmt.Errorf("seq %d: %w", seq, errDamaged)
	}
	if hl > 0 {
		m.Header = append([]byte(nil), rest[n:n+int(hl)]...)
	}
	rest = rest[n+int(hl):]
	if flags&flagCompressed != 0 {
		d, err := s2.Decode(nil, rest)
		if err != nil {
			return nil, fmt.Errorf("seq %d: %w: %w", seq, errDamaged, err)
		}
		m.Data = d
	} else if len(rest) > 0 {
		m.Data = append([]byte(nil), rest...)
	}
	return m, nil
}

// decodeMsgMeta decodes only key, op, time and TTL.
func decodeMsgMeta(seq uint64, v []byte) (*Msg, error) {
	if len(v) < 18 {
		return nil, fmt.Errorf("seq %d: %w", seq, errDamaged)
	}
	m := &Msg{Seq: seq, Op: Op(v[1])}
	m.Time = int64(binary.BigEndian.Uint64(v[2:]))
	m.TTL = int64(binary.BigEndian.Uint64(v[10:]))
	rest := v[18:]
	kl, n := binary.Uvarint(rest)
	if n <= 0 || uint64(len(rest)-n) < kl {
		return nil, fmt.Errorf("seq %d: %w", seq, errDamaged)
	}
	m.Key = string(rest[n : n+int(kl)])
	return m, nil
}
