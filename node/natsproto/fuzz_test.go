package natsproto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParser checks that the parser never panics or hangs, that
// chunking does not change the result, that errors are protocol errors,
// and that every parsed op re-encodes to bytes that parse back to it.
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"PING\r\n", "CONNECT {\"verbose\":false}\r\nPING\r\n",
		"PUB foo 5\r\nhello\r\n", "PUB foo bar 0\r\n\r\n",
		"HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		"SUB _INBOX.x  1\r\nUNSUB 1 \r\n", "SUB a q 1\r\nUNSUB 1 5\r\n",
		"PUB foo 3\r\nabcd\r\n", "\r\n", "pINg\n", "PUB a 1\nx\n",
		"HPUB a 5 3\r\n", "PUB a 999999999\r\n", "UNSUB 1 x\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		whole, wenc, werr := collect(in, 0)
		split, _, serr := collect(in, int(chunk%16)+1)
		if (werr == nil) != (serr == nil) || strings.Join(whole, "\n") != strings.Join(split, "\n") {
			t.Fatalf("chunking changed the result:\nwhole %q %v\nsplit %q %v", whole, werr, split, serr)
		}
		if werr != nil {
			var pe *Error
			if !errors.As(werr, &pe) {
				t.Fatalf("non-protocol error %T %v", werr, werr)
			}
		}
		for i, enc := range wenc {
			again, _, err := collect(enc, 0)
			if err != nil || len(again) != 1 || again[0] != whole[i] {
				t.Fatalf("re-encode %q -> %q: %q %v", whole[i], enc, again, err)
			}
		}
	})
}

// collect parses in (in chunks of n bytes when n > 0) with small limits
// and returns each op rendered and re-encoded.
func collect(in []byte, n int) (ops []string, encs [][]byte, err error) {
	const maxPayload = 4096
	p := NewParser(maxPayload, 512)
	fn := func(op *Op) error {
		if len(op.Header)+len(op.Payload) > maxPayload {
			return errors.New("payload over the limit")
		}
		ops = append(ops, render(op))
		encs = append(encs, encodeOp(op))
		return nil
	}
	if n <= 0 {
		return ops, encs, p.Parse(in, fn)
	}
	for len(in) > 0 {
		k := min(n, len(in))
		if err := p.Parse(bytes.Clone(in[:k]), fn); err != nil {
			return ops, encs, err
		}
		in = in[k:]
	}
	return ops, encs, nil
}

func encodeOp(op *Op) []byte {
	switch op.Kind {
	case OpPing:
		return []byte(PingLine)
	case OpPong:
		return []byte(PongLine)
	case OpConnect:
		return append(append([]byte("CONNECT "), op.JSON...), "\r\n"...)
	case OpPub:
		return AppendPub(nil, op.Subject, op.Reply, op.Payload)
	case OpHPub:
		return AppendHPub(nil, op.Subject, op.Reply, op.Header, op.Payload)
	case OpSub:
		return AppendSub(nil, op.Subject, op.Queue, op.SID)
	case OpUnsub:
		return AppendUnsub(nil, op.SID, op.Max)
	}
	return nil
}

// FuzzHeaders checks that header parsing never panics, that the
// allocation-free lookup agrees with the parsed form, and that
// AppendHeader keeps existing fields and adds exactly the new one.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{
		"NATS/1.0\r\n\r\n", "NATS/1.0 503\r\nNats-Subject: x\r\n\r\n",
		"NATS/1.0 404 Message Not Found\r\n\r\n", "NATS/1.0\nA: b\n\n",
		"NATS/1.0\r\nA:  b \r\nA: c\r\n: d\r\n\r\n", "NATS/1.0 10\r\n\r\n", "NATS/1.0\r\nA\r\n\r\n",
	} {
		f.Add([]byte(s), "A", "v")
	}
	f.Fuzz(func(t *testing.T, raw []byte, key, value string) {
		h, err := ParseHeader(raw)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error %v is not ErrBadHeader", err)
			}
			if _, ok := HeaderValue(raw, key); ok {
				t.Fatal("HeaderValue found a key in an invalid block")
			}
			return
		}
		if h.Status < 0 || h.Status > 999 {
			t.Fatalf("status %d", h.Status)
		}
		for _, fl := range h.Fields {
			want, _ := h.Get(string(fl.Key))
			got, ok := HeaderValue(raw, string(fl.Key))
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("HeaderValue(%q) = %q %v, Get = %q", fl.Key, got, ok, want)
			}
		}
		out, err := AppendHeader(raw, key, value)
		if err != nil {
			return
		}
		h2, err := ParseHeader(out)
		if err != nil {
			t.Fatalf("AppendHeader produced an invalid block %q: %v", out, err)
		}
		if h2.Status != h.Status || !bytes.Equal(h2.Description, h.Description) || len(h2.Fields) != len(h.Fields)+1 {
			t.Fatalf("AppendHeader changed the block: %q -> %q", raw, out)
		}
		last := h2.Fields[len(h2.Fields)-1]
		if string(last.Key) != key || string(last.Value) != value {
			t.Fatalf("appended %q: %q, got %q: %q", key, value, last.Key, last.Value)
		}
	})
}
