package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf []byte
	buf = appendFrame(buf, framePing, nil)
	buf = appendFrame(buf, frameSnapChunk, []byte("chunk"))
	buf, start := beginFrame(buf)
	buf = appendRaftMsg(buf, 7, &raftpb.Message{Type: raftpb.MsgHeartbeat, To: 2, From: 1, Term: 4},
		(&raftpb.Message{Type: raftpb.MsgHeartbeat, To: 2, From: 1, Term: 4}).Size())
	buf = finishFrame(buf, start, frameRaft)

	fr := frameReader{r: bytes.NewReader(buf), max: 1 << 10}
	for _, want := range []frameType{framePing, frameSnapChunk, frameRaft} {
		typ, payload, err := fr.next()
		if err != nil || typ != want {
			t.Fatalf("got %d %v, want %d", typ, err, want)
		}
		if typ == frameRaft {
			err := decodeRaftBatch(payload, func(g uint64, m raftpb.Message) error {
				if g != 7 || m.Type != raftpb.MsgHeartbeat || m.Term != 4 {
					t.Fatalf("decoded %d %+v", g, m)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := fr.next(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
}

// A header claiming a large frame costs only the bytes that arrive.
func TestFrameReaderDoesNotTrustLength(t *testing.T) {
	hdr := rawFrame(frameRaft, nil, 8<<20, 0)
	fr := frameReader{r: io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(make([]byte, 100))), max: 16 << 20}
	if _, _, err := fr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v", err)
	}
	if cap(fr.buf) > growStep {
		t.Fatalf("allocated %d bytes for 100 received", cap(fr.buf))
	}
	fr = frameReader{r: bytes.NewReader(rawFrame(frameRaft, nil, 1<<20+1, 0)), max: 1 << 20}
	if _, _, err := fr.next(); !errors.Is(err, errProtocol) {
		t.Fatalf("oversized frame: %v", err)
	}
}

func TestHandshakeRoundTrip(t *testing.T) {
	h := hello{version: protocolVersion, kind: kindSnapshot, flags: flagKeyed, from: 3, to: 1 << 60, keepalive: 1500 * time.Millisecond, nonce: newNonce()}
	got, err := decodeHello(h.encode())
	if err != nil || got != h {
		t.Fatalf("%+v %v", got, err)
	}
	r := reply{version: protocolVersion, status: replyWrongNode, flags: flagKeyed, node: 9, nonce: newNonce(), mac: [macLen]byte{1, 2, 3}}
	gr, err := decodeReply(r.encode())
	if err != nil || gr != r {
		t.Fatalf("%+v %v", gr, err)
	}
}

func TestCallCodecs(t *testing.T) {
	req := callReq{id: 5, timeout: 1500 * time.Millisecond, method: "forward", payload: []byte("body")}
	got, err := decodeCallReq(appendCallReq(nil, req))
	if err != nil || got.id != 5 || got.timeout != req.timeout || got.method != "forward" || string(got.payload) != "body" {
		t.Fatalf("%+v %v", got, err)
	}
	resp := callResp{id: 6, status: callFailed, payload: []byte("boom")}
	gr, err := decodeCallResp(appendCallResp(nil, resp))
	if err != nil || gr.id != 6 || gr.status != callFailed || string(gr.payload) != "boom" {
		t.Fatalf("%+v %v", gr, err)
	}
}

// A message carrying the recursive Responses field is refused before
// Unmarshal sees it.
func TestNestedResponsesRefused(t *testing.T) {
	m := raftpb.Message{Type: raftpb.MsgHeartbeat, To: 2, Responses: []raftpb.Message{{Type: raftpb.MsgHeartbeat}}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeMessage(b); !errors.Is(err, errProtocol) {
		t.Fatalf("got %v", err)
	}
}

func TestStageSpills(t *testing.T) {
	st := &stage{memMax: 4 << 10, dir: t.TempDir()}
	defer st.close()
	data := randomState(10 << 10)
	for i := 0; i < len(data); i += 1000 {
		if err := st.write(data[i:min(i+1000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if st.f == nil || st.mem != nil {
		t.Fatal("10 KiB with a 4 KiB memory bound did not spill")
	}
	got, err := io.ReadAll(st.reader())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
}
