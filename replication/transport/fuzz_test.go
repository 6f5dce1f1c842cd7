package transport

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// FuzzFrameDecode feeds arbitrary bytes to everything that parses what a
// peer sends: the handshake, the frame reader and every payload decoder.
// None may panic, and a frame that decodes must re-encode to the bytes it
// came from.
//
// Its seeds are the committed corpus in testdata/fuzz/FuzzFrameDecode,
// written from fuzzSeeds by TestWriteFuzzCorpus.
func FuzzFrameDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= helloLen {
			_, _ = decodeHello(data[:helloLen])
		}
		if len(data) >= replyLen {
			_, _ = decodeReply(data[:replyLen])
		}
		fr := frameReader{r: bytes.NewReader(data), max: 1 << 16}
		consumed := 0
		for range 64 {
			typ, payload, err := fr.next()
			if err != nil {
				return
			}
			n := frameHeaderLen + len(payload)
			if !bytes.Equal(appendFrame(nil, typ, payload), data[consumed:consumed+n]) {
				t.Fatalf("frame at %d does not re-encode to its bytes", consumed)
			}
			consumed += n
			decodePayload(typ, payload)
		}
	})
}

func decodePayload(typ frameType, p []byte) {
	switch typ {
	case frameRaft:
		_ = decodeRaftBatch(p, func(uint64, raftpb.Message) error { return nil })
	case frameCallReq:
		_, _ = decodeCallReq(p)
	case frameCallResp:
		_, _ = decodeCallResp(p)
	case frameSnapHeader:
		_, _, _ = decodeSnapHeader(p)
	case frameSnapTrailer:
		_, _, _ = decodeSnapTrailer(p)
	case frameSnapAck:
		_ = decodeSnapAck(p)
	}
}

// fuzzSeeds are valid and nearly valid inputs of every kind.
func fuzzSeeds() [][]byte {
	msg := raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 3, Index: 9, LogTerm: 3, Commit: 8,
		Entries: []raftpb.Entry{{Term: 3, Index: 10, Data: []byte("put a.b")}}}
	var batch []byte
	batch = appendRaftMsg(batch, 4, &msg, msg.Size())
	hb := raftpb.Message{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 3}
	batch = appendRaftMsg(batch, 5, &hb, hb.Size())
	snapHdr, _ := appendSnapHeader(nil, 4, raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: 2,
		Snapshot: &raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: 50, Term: 3}}})
	nested, _ := (&raftpb.Message{Responses: []raftpb.Message{{Type: raftpb.MsgHeartbeat}}}).Marshal()

	raftFrame := appendFrame(nil, frameRaft, batch)
	badCRC := bytes.Clone(raftFrame)
	badCRC[len(badCRC)-1] ^= 1
	return [][]byte{
		hello{version: protocolVersion, kind: kindStream, from: 1, to: 2, keepalive: time.Second}.encode(),
		hello{version: protocolVersion, kind: kindSnapshot, flags: flagKeyed, from: 1, to: 2, nonce: [nonceLen]byte{1, 2, 3}}.encode(),
		reply{version: protocolVersion, status: replyOK, node: 2}.encode(),
		reply{version: protocolVersion, status: replyNeedKey, flags: flagKeyed, node: 2, nonce: [nonceLen]byte{4}, mac: [macLen]byte{5}}.encode(),
		raftFrame,
		badCRC,
		appendFrame(nil, frameRaft, append([]byte{1, byte(len(nested))}, nested...)),
		appendFrame(nil, frameCallReq, appendCallReq(nil, callReq{id: 1, timeout: time.Second, method: "forward", payload: []byte("x")})),
		appendFrame(nil, frameCallResp, appendCallResp(nil, callResp{id: 1, status: callFailed, payload: []byte("boom")})),
		appendFrame(nil, frameSnapHeader, snapHdr),
		appendFrame(nil, frameSnapChunk, []byte("state bytes")),
		appendFrame(nil, frameSnapTrailer, appendSnapTrailer(nil, 11, 0xdeadbeef)),
		appendFrame(appendFrame(nil, framePing, nil), framePong, nil),
		appendFrame(nil, frameSnapAck, appendSnapAck(nil, fmt.Errorf("nope"))),
		rawFrame(frameRaft, nil, 0xffffffff, 0),
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzFrameDecode from
// fuzzSeeds when CAIRN_WRITE_FUZZ_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CAIRN_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set CAIRN_WRITE_FUZZ_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzFrameDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
