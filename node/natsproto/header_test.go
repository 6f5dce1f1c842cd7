package natsproto

import (
	"errors"
	"fmt"
	"testing"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		status int
		desc   string
		fields string // "k=v;k=v"
		err    bool
	}{
		{"plain", "NATS/1.0\r\n\r\n", 0, "", "", false},
		{"fields", "NATS/1.0\r\nNats-Stream: KV_x\r\nKV-Operation: DEL\r\n\r\n", 0, "", "Nats-Stream=KV_x;KV-Operation=DEL;", false},
		{"status", "NATS/1.0 503\r\n\r\n", 503, "", "", false},
		{"status desc", "NATS/1.0 404 Message Not Found\r\n\r\n", 404, "Message Not Found", "", false},
		{"status desc fields", "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 0\r\nNats-Last-Stream: 0\r\n\r\n",
			100, "Idle Heartbeat", "Nats-Last-Consumer=0;Nats-Last-Stream=0;", false},
		{"lf only", "NATS/1.0\nA: b\n\n", 0, "", "A=b;", false},
		{"trim values", "NATS/1.0\r\nA:\t  b c \t\r\n\r\n", 0, "", "A=b c;", false},
		{"multi", "NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n", 0, "", "A=1;A=2;", false},
		{"empty key skipped", "NATS/1.0\r\n: x\r\nB: y\r\n\r\n", 0, "", "B=y;", false},
		{"colon in value", "NATS/1.0\r\nA: b:c\r\n\r\n", 0, "", "A=b:c;", false},
		{"trailing data ignored", "NATS/1.0\r\n\r\nxyz", 0, "", "", false},

		{"empty", "", 0, "", "", true},
		{"no version", "HTTP/1.1\r\n\r\n", 0, "", "", true},
		{"short status", "NATS/1.0 50\r\n\r\n", 0, "", "", true},
		{"non-digit status", "NATS/1.0 abc\r\n\r\n", 0, "", "", true},
		{"unterminated", "NATS/1.0\r\nA: b\r\n", 0, "", "", true},
		{"no colon", "NATS/1.0\r\nAb\r\n\r\n", 0, "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeader([]byte(tc.raw))
			if tc.err {
				if !errors.Is(err, ErrBadHeader) {
					t.Fatalf("err = %v, want ErrBadHeader", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var fields string
			for _, f := range h.Fields {
				fields += fmt.Sprintf("%s=%s;", f.Key, f.Value)
			}
			if h.Status != tc.status || string(h.Description) != tc.desc || fields != tc.fields || string(h.Raw) != tc.raw {
				t.Fatalf("got status %d desc %q fields %q", h.Status, h.Description, fields)
			}
		})
	}
}

func TestHeaderLookup(t *testing.T) {
	raw := []byte("NATS/1.0\r\nNats-Sequence: 7\r\nA: 1\r\nA: 2\r\n\r\n")
	h, err := ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := h.Get("Nats-Sequence"); !ok || string(v) != "7" {
		t.Fatalf("Get = %q %v", v, ok)
	}
	if _, ok := h.Get("nats-sequence"); ok {
		t.Fatal("Get must be case-sensitive")
	}
	if vs := h.Values("A"); len(vs) != 2 || string(vs[0]) != "1" || string(vs[1]) != "2" {
		t.Fatalf("Values = %q", vs)
	}
	if v, ok := HeaderValue(raw, "A"); !ok || string(v) != "1" {
		t.Fatalf("HeaderValue = %q %v", v, ok)
	}
	if _, ok := HeaderValue(raw, "a"); ok {
		t.Fatal("HeaderValue must be case-sensitive")
	}
	if _, ok := HeaderValue([]byte("garbage"), "A"); ok {
		t.Fatal("HeaderValue on bad block")
	}
	if n := testing.AllocsPerRun(100, func() { HeaderValue(raw, "A") }); n != 0 {
		t.Fatalf("HeaderValue allocates %v", n)
	}
}

func TestStatusHeader(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(StatusHeader(503, "", "Nats-Subject", "nobody.listens")), "NATS/1.0 503\r\nNats-Subject: nobody.listens\r\n\r\n"},
		{string(StatusHeader(404, "Message Not Found")), "NATS/1.0 404 Message Not Found\r\n\r\n"},
		{string(StatusHeader(0, "")), "NATS/1.0\r\n\r\n"},
		{string(StatusHeader(1, "x")), "NATS/1.0 001 x\r\n\r\n"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	// The no-responders block is 46 bytes in the observed trace.
	if n := len(StatusHeader(503, "", "Nats-Subject", "nobody.listens")); n != 46 {
		t.Errorf("no-responders block is %d bytes, want 46", n)
	}
}

func TestAppendHeader(t *testing.T) {
	orig := []byte("NATS/1.0 100 Idle Heartbeat\r\nA: 1\r\n\r\n")
	keep := string(orig)
	got, err := AppendHeader(orig[:len(orig):cap(orig)], "B", "2")
	if err != nil {
		t.Fatal(err)
	}
	if string(orig) != keep {
		t.Fatal("AppendHeader modified its input")
	}
	if want := "NATS/1.0 100 Idle Heartbeat\r\nA: 1\r\nB: 2\r\n\r\n"; string(got) != want {
		t.Fatalf("got %q", got)
	}
	fresh, err := AppendHeader(nil, "Nats-Msg-Id", "x")
	if err != nil || string(fresh) != "NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n" {
		t.Fatalf("fresh: %q %v", fresh, err)
	}
	for _, bad := range []struct{ raw, k, v string }{
		{"NATS/1.0\r\n", "A", "b"},
		{"junk\r\n\r\n", "A", "b"},
		{"", "A:", "b"},
		{"", "A B", "b"},
		{"", "", "b"},
		{"", "A", "b\r\nC: d"},
		{"", "A", " b"},
	} {
		if _, err := AppendHeader([]byte(bad.raw), bad.k, bad.v); !errors.Is(err, ErrBadHeader) {
			t.Errorf("AppendHeader(%q, %q, %q) err = %v", bad.raw, bad.k, bad.v, err)
		}
	}
}
