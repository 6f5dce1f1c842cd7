package natsproto

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEncoders(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"msg", string(AppendMsg(nil, "foo", "1", "", []byte("hi"))), "MSG foo 1 2\r\nhi\r\n"},
		{"msg reply", string(AppendMsg(nil, []byte("foo"), "12", []byte("bar"), nil)), "MSG foo 12 bar 0\r\n\r\n"},
		{"hmsg", string(AppendHMsg(nil, "foo", "1", "", []byte("NATS/1.0\r\n\r\n"), []byte("hi"))),
			"HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"},
		{"hmsg no responders", string(AppendHMsg(nil, "_INBOX.raw.x", "1", "",
			StatusHeader(503, "", "Nats-Subject", "nobody.listens"), nil)),
			"HMSG _INBOX.raw.x 1 46 46\r\nNATS/1.0 503\r\nNats-Subject: nobody.listens\r\n\r\n\r\n"},
		{"hmsg reply", string(AppendHMsg(nil, "a", "9", "r", []byte("H"), []byte("P"))), "HMSG a 9 r 1 2\r\nHP\r\n"},
		{"err", string(AppendErr(nil, "Slow Consumer")), "-ERR 'Slow Consumer'\r\n"},
		{"pub", string(AppendPub(nil, "a", "r", []byte("x"))), "PUB a r 1\r\nx\r\n"},
		{"hpub", string(AppendHPub(nil, "a", "", []byte("H"), []byte("x"))), "HPUB a 1 2\r\nHx\r\n"},
		{"sub", string(AppendSub(nil, "a.*", "", "1")), "SUB a.* 1\r\n"},
		{"sub queue", string(AppendSub(nil, "a", "q", "1")), "SUB a q 1\r\n"},
		{"unsub", string(AppendUnsub(nil, "1", 0)), "UNSUB 1\r\n"},
		{"unsub max", string(AppendUnsub(nil, "1", 5)), "UNSUB 1 5\r\n"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestMsgSizeExact(t *testing.T) {
	for _, payload := range []int{0, 9, 10, 99, 100, 12345} {
		for _, reply := range []string{"", "_INBOX.abc"} {
			p := make([]byte, payload)
			if got, want := MsgSize(3, 2, len(reply), payload), len(AppendMsg(nil, "foo", "12", reply, p)); got != want {
				t.Errorf("MsgSize(payload %d, reply %q) = %d, want %d", payload, reply, got, want)
			}
			h := []byte("NATS/1.0\r\n\r\n")
			if got, want := HMsgSize(3, 2, len(reply), len(h), payload), len(AppendHMsg(nil, "foo", "12", reply, h, p)); got != want {
				t.Errorf("HMsgSize(payload %d) = %d, want %d", payload, got, want)
			}
		}
	}
}

func TestAppendInfo(t *testing.T) {
	b, err := AppendInfo(nil, &Info{ServerID: "NABC", ServerName: "n1", Version: "2.11.0", Proto: 1,
		GoVersion: "go1.26", Host: "127.0.0.1", Port: 4222, Headers: true, MaxPayload: 1 << 20,
		JetStream: true, ClientID: 7, ClientIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, "INFO {") || !strings.HasSuffix(s, "}\r\n") {
		t.Fatalf("framing: %q", s)
	}
	var m map[string]any
	if err := json.Unmarshal(b[5:len(b)-2], &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"server_id": "NABC", "version": "2.11.0", "proto": 1.0, "headers": true,
		"max_payload": 1048576.0, "jetstream": true, "client_id": 7.0, "port": 4222.0, "go": "go1.26"} {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["api_lvl"]; ok {
		t.Error("api_lvl must be omitted when 0")
	}
}

func TestEncodeAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	subj, reply, payload := []byte("foo.bar"), []byte("_INBOX.x"), []byte("0123456789")
	n := testing.AllocsPerRun(100, func() {
		buf = AppendMsg(buf[:0], subj, "12", reply, payload)
	})
	if n != 0 {
		t.Fatalf("AppendMsg allocates %v", n)
	}
}
