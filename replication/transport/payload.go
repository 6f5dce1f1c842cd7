package transport

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Payload codecs. Every decoder checks each length against what is left
// before slicing, and returns errProtocol on anything malformed.

// A raft frame's payload is a sequence of [uvarint group][uvarint len][message].

func appendRaftMsg(dst []byte, group uint64, m *raftpb.Message, size int) []byte {
	dst = binary.AppendUvarint(dst, group)
	dst = binary.AppendUvarint(dst, uint64(size))
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	// size is m.Size(), computed when the message was queued, so the
	// buffer is exactly what MarshalToSizedBuffer (which fills backwards)
	// needs; it cannot fail for a well-formed message.
	_, _ = m.MarshalToSizedBuffer(dst[start:])
	return dst
}

// raftMsgOverhead bounds the two uvarints before each message.
const raftMsgOverhead = 2 * binary.MaxVarintLen64

func decodeRaftBatch(p []byte, each func(group uint64, m raftpb.Message) error) error {
	for len(p) > 0 {
		group, n := binary.Uvarint(p)
		if n <= 0 {
			return fmt.Errorf("%w: bad group in raft frame", errProtocol)
		}
		p = p[n:]
		b, rest, err := lenPrefixed(p)
		if err != nil {
			return err
		}
		p = rest
		m, err := decodeMessage(b)
		if err != nil {
			return err
		}
		if err := each(group, m); err != nil {
			return err
		}
	}
	return nil
}

func lenPrefixed(p []byte) (b, rest []byte, err error) {
	l, n := binary.Uvarint(p)
	if n <= 0 || l > uint64(len(p)-n) {
		return nil, nil, fmt.Errorf("%w: bad length prefix", errProtocol)
	}
	end := n + int(l)
	return p[n:end], p[end:], nil
}

// responsesField is raftpb.Message's field 14, the only recursive one.
// Only local (storage thread) messages carry it, so a remote message with it
// is garbage, and refusing it up front keeps a hostile frame from making
// Unmarshal recurse a million levels deep.
const responsesField = 14

func decodeMessage(b []byte) (raftpb.Message, error) {
	if err := checkTopLevelFields(b); err != nil {
		return raftpb.Message{}, err
	}
	var m raftpb.Message
	if err := m.Unmarshal(b); err != nil {
		return raftpb.Message{}, fmt.Errorf("%w: raft message: %w", errProtocol, err)
	}
	return m, nil
}

// checkTopLevelFields walks the protobuf fields of b without decoding them.
func checkTopLevelFields(b []byte) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("%w: bad protobuf key", errProtocol)
		}
		b = b[n:]
		if key>>3 == responsesField {
			return fmt.Errorf("%w: raft message carries local responses", errProtocol)
		}
		var skip uint64
		switch key & 7 {
		case 0: // varint
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("%w: bad protobuf varint", errProtocol)
			}
			skip = uint64(n)
		case 1:
			skip = 8
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("%w: bad protobuf length", errProtocol)
			}
			b = b[n:]
			skip = l
		case 5:
			skip = 4
		default:
			return fmt.Errorf("%w: protobuf wire type %d", errProtocol, key&7)
		}
		if skip > uint64(len(b)) {
			return fmt.Errorf("%w: truncated protobuf field", errProtocol)
		}
		b = b[skip:]
	}
	return nil
}

// A call request is [id u64][timeout ms u32, 0 = none][method len u8][method][payload];
// a response is [id u64][status u8][payload, or the error text].

type callStatus uint8

const (
	callOK callStatus = iota
	callFailed
	callUnknownMethod
	callBusy
	callDeadline // the handler ran out of the time the caller gave it
	callStatusEnd
)

const (
	callReqOverhead  = 8 + 4 + 1
	callRespOverhead = 8 + 1
	maxMethodLen     = 255
)

type callReq struct {
	id      uint64
	timeout time.Duration
	method  string
	payload []byte
}

func appendCallReq(dst []byte, r callReq) []byte {
	dst = binary.BigEndian.AppendUint64(dst, r.id)
	dst = binary.BigEndian.AppendUint32(dst, uint32(min(r.timeout.Milliseconds(), 1<<32-1)))
	dst = append(dst, byte(len(r.method)))
	dst = append(dst, r.method...)
	return append(dst, r.payload...)
}

// decodeCallReq's payload aliases p.
func decodeCallReq(p []byte) (callReq, error) {
	if len(p) < callReqOverhead {
		return callReq{}, fmt.Errorf("%w: short call request", errProtocol)
	}
	r := callReq{
		id:      binary.BigEndian.Uint64(p),
		timeout: time.Duration(binary.BigEndian.Uint32(p[8:])) * time.Millisecond,
	}
	ml := int(p[12])
	p = p[callReqOverhead:]
	if ml == 0 || ml > len(p) {
		return callReq{}, fmt.Errorf("%w: bad call method length %d", errProtocol, ml)
	}
	r.method, r.payload = string(p[:ml]), p[ml:]
	return r, nil
}

type callResp struct {
	id      uint64
	status  callStatus
	payload []byte
}

func appendCallResp(dst []byte, r callResp) []byte {
	dst = binary.BigEndian.AppendUint64(dst, r.id)
	dst = append(dst, byte(r.status))
	return append(dst, r.payload...)
}

// decodeCallResp's payload aliases p.
func decodeCallResp(p []byte) (callResp, error) {
	if len(p) < callRespOverhead {
		return callResp{}, fmt.Errorf("%w: short call response", errProtocol)
	}
	r := callResp{id: binary.BigEndian.Uint64(p), status: callStatus(p[8]), payload: p[9:]}
	if r.status >= callStatusEnd {
		return callResp{}, fmt.Errorf("%w: call status %d", errProtocol, r.status)
	}
	return r, nil
}

// A snapshot header is [uvarint group][MsgSnap without Snapshot.Data]; a
// trailer is [total length u64][crc32c of the whole stream u32]; an ack is
// [ok u8][reason text].

func appendSnapHeader(dst []byte, group uint64, m raftpb.Message) ([]byte, error) {
	if m.Snapshot != nil {
		snap := *m.Snapshot
		snap.Data = nil // the state travels as the chunk stream
		m.Snapshot = &snap
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding MsgSnap: %w", err)
	}
	dst = binary.AppendUvarint(dst, group)
	return append(dst, b...), nil
}

func decodeSnapHeader(p []byte) (uint64, raftpb.Message, error) {
	group, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, raftpb.Message{}, fmt.Errorf("%w: bad group in snapshot header", errProtocol)
	}
	m, err := decodeMessage(p[n:])
	if err != nil {
		return 0, raftpb.Message{}, err
	}
	if m.Type != raftpb.MsgSnap || m.Snapshot == nil {
		return 0, raftpb.Message{}, fmt.Errorf("%w: snapshot header holds %s", errProtocol, m.Type)
	}
	return group, m, nil
}

const snapTrailerLen = 12

func appendSnapTrailer(dst []byte, total uint64, sum uint32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, total)
	return binary.BigEndian.AppendUint32(dst, sum)
}

func decodeSnapTrailer(p []byte) (total uint64, sum uint32, err error) {
	if len(p) != snapTrailerLen {
		return 0, 0, fmt.Errorf("%w: snapshot trailer of %d bytes", errProtocol, len(p))
	}
	return binary.BigEndian.Uint64(p), binary.BigEndian.Uint32(p[8:]), nil
}

// maxAckReason bounds the rejection text a receiver sends back.
const maxAckReason = 1024

func appendSnapAck(dst []byte, err error) []byte {
	if err == nil {
		return append(dst, 1)
	}
	s := err.Error()
	if len(s) > maxAckReason {
		s = s[:maxAckReason]
	}
	return append(append(dst, 0), s...)
}

// decodeSnapAck returns nil for an ack and the receiver's reason for a nack.
func decodeSnapAck(p []byte) error {
	if len(p) == 0 || p[0] > 1 {
		return fmt.Errorf("%w: bad snapshot ack", errProtocol)
	}
	if p[0] == 1 {
		return nil
	}
	return fmt.Errorf("receiver rejected snapshot: %s", p[1:])
}
