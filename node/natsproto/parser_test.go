package natsproto

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// render turns an Op into a stable string for comparisons.
func render(op *Op) string {
	switch op.Kind {
	case OpPing, OpPong:
		return op.Kind.String()
	case OpConnect:
		return fmt.Sprintf("CONNECT %s", op.JSON)
	case OpPub:
		return fmt.Sprintf("PUB %s|%s|%q", op.Subject, op.Reply, op.Payload)
	case OpHPub:
		return fmt.Sprintf("HPUB %s|%s|%q|%q", op.Subject, op.Reply, op.Header, op.Payload)
	case OpSub:
		return fmt.Sprintf("SUB %s|%s|%s", op.Subject, op.Queue, op.SID)
	case OpUnsub:
		return fmt.Sprintf("UNSUB %s|%d", op.SID, op.Max)
	}
	return "?"
}

// parseChunks feeds in to a fresh parser in chunks of the given sizes
// (the last size repeats) and returns the rendered ops and the error.
func parseChunks(t testing.TB, in string, maxPayload int, sizes ...int) ([]string, error) {
	t.Helper()
	p := NewParser(maxPayload, 0)
	var got []string
	fn := func(op *Op) error {
		got = append(got, render(op))
		return nil
	}
	b := []byte(in)
	k := 0
	for len(b) > 0 {
		n := len(b)
		if len(sizes) > 0 {
			n = min(sizes[min(k, len(sizes)-1)], len(b))
		}
		k++
		chunk := append([]byte(nil), b[:n]...) // fresh memory each read
		b = b[n:]
		if err := p.Parse(chunk, fn); err != nil {
			return got, err
		}
	}
	return got, nil
}

func TestParserOps(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"ping", "PING\r\n", []string{"PING"}, nil},
		{"pong lower", "pong\r\n", []string{"PONG"}, nil},
		{"ping lf only", "PING\n", []string{"PING"}, nil},
		{"ping trailing junk", "PINGxyz  \r\n", []string{"PING"}, nil},
		{"connect", "CONNECT {\"verbose\":false}\r\n", []string{`CONNECT {"verbose":false}`}, nil},
		{"connect tabs", "connect\t \t{}  \r\n", []string{`CONNECT {}`}, nil},
		{"connect empty", "CONNECT\r\n", []string{`CONNECT `}, nil},
		{"pub", "PUB foo 5\r\nhello\r\n", []string{`PUB foo||"hello"`}, nil},
		{"pub reply", "PUB foo bar 5\r\nhello\r\n", []string{`PUB foo|bar|"hello"`}, nil},
		{"pub empty", "PUB foo 0\r\n\r\n", []string{`PUB foo||""`}, nil},
		{"pub whitespace runs", "pub \t foo  \t bar\t5  \r\nhello\r\n", []string{`PUB foo|bar|"hello"`}, nil},
		{"pub leading zero size", "PUB foo 01\r\nx\r\n", []string{`PUB foo||"x"`}, nil},
		{"pub payload with crlf", "PUB a 4\r\n\r\n\r\n\r\n", []string{`PUB a||"\r\n\r\n"`}, nil},
		{"pub wildcard subject", "PUB $JS.API.CONSUMER.CREATE.S.c.$KV.T.> _INBOX.x.y 2\r\n{}\r\n",
			[]string{`PUB $JS.API.CONSUMER.CREATE.S.c.$KV.T.>|_INBOX.x.y|"{}"`}, nil},
		{"hpub", "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", []string{`HPUB foo||"NATS/1.0\r\n\r\n"|"hi"`}, nil},
		{"hpub reply header only", "HPUB foo r 12 12\r\nNATS/1.0\r\n\r\n\r\n", []string{`HPUB foo|r|"NATS/1.0\r\n\r\n"|""`}, nil},
		{"sub", "SUB foo 1\r\n", []string{"SUB foo||1"}, nil},
		{"sub nats.go double space", "SUB _INBOX.x  1\r\n", []string{"SUB _INBOX.x||1"}, nil},
		{"sub queue", "SUB foo.* q 22\r\n", []string{"SUB foo.*|q|22"}, nil},
		{"unsub", "UNSUB 1\r\n", []string{"UNSUB 1|0"}, nil},
		{"unsub trailing space", "UNSUB 2 \r\n", []string{"UNSUB 2|0"}, nil},
		{"unsub max", "UNSUB 2 10\r\n", []string{"UNSUB 2|10"}, nil},
		{"unsub bad max", "UNSUB 2 x\r\n", []string{"UNSUB 2|0"}, nil},
		{"several", "PING\r\nSUB a 1\r\nPUB a 1\r\nx\r\nUNSUB 1\r\nPONG\r\n",
			[]string{"PING", "SUB a||1", `PUB a||"x"`, "UNSUB 1|0", "PONG"}, nil},

		{"unknown", "FOO\r\n", nil, ErrUnknownOp},
		{"empty line", "\r\n", nil, ErrUnknownOp},
		{"leading space", " PING\r\n", nil, ErrUnknownOp},
		{"client +OK", "+OK\r\n", nil, ErrUnknownOp},
		{"client -ERR", "-ERR 'x'\r\n", nil, ErrUnknownOp},
		{"client MSG", "MSG foo 1 1\r\nx\r\n", nil, ErrUnknownOp},
		{"pub no args", "PUB\r\n", nil, ErrUnknownOp},
		{"pubx", "PUBX foo 1\r\n", nil, ErrUnknownOp},
		{"unsub no args", "UNSUB\r\n", nil, ErrUnknownOp},
		{"payload too long", "PUB foo 3\r\nabcd\r\n", nil, ErrUnknownOp},
		{"payload lf only", "PUB foo 1\r\nx\nPING\r\n", nil, ErrUnknownOp},
		{"pub one arg", "PUB foo\r\n", nil, ErrBadArgs},
		{"pub spaces only", "PUB  \r\n", nil, ErrBadArgs},
		{"pub too many", "PUB a b c d\r\n", nil, ErrBadArgs},
		{"pub bad size", "PUB foo x\r\n", nil, ErrBadArgs},
		{"pub negative", "PUB foo -1\r\n", nil, ErrBadArgs},
		{"pub 10 digit size", "PUB foo 1000000000\r\n", nil, ErrBadArgs},
		{"hpub hdr > total", "HPUB foo 12 11\r\n", nil, ErrBadArgs},
		{"hpub missing", "HPUB foo 12\r\n", nil, ErrBadArgs},
		{"sub one arg", "SUB foo\r\n", nil, ErrBadArgs},
		{"sub four args", "SUB a q 1 2\r\n", nil, ErrBadArgs},
		{"unsub three args", "UNSUB 1 2 3\r\n", nil, ErrBadArgs},
		{"max payload", "PUB foo 1025\r\n", nil, ErrMaxPayload},
		{"max payload hpub", "HPUB foo 10 1025\r\n", nil, ErrMaxPayload},
		{"max control line", "SUB " + strings.Repeat("a", 5000) + " 1\r\n", nil, ErrMaxControlLine},
		{"max control line no newline", "SUB " + strings.Repeat("a", 5000), nil, ErrMaxControlLine},
		{"ops before error", "PING\r\nBAD\r\nPING\r\n", []string{"PING"}, ErrUnknownOp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, then byte by byte, then odd chunk sizes.
			for _, sizes := range [][]int{nil, {1}, {3}, {7, 2}} {
				got, err := parseChunks(t, tc.in, 1024, sizes...)
				if !errors.Is(err, tc.err) {
					t.Fatalf("chunks %v: err = %v, want %v", sizes, err, tc.err)
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Fatalf("chunks %v:\n got %q\nwant %q", sizes, got, tc.want)
				}
			}
		})
	}
}

// TestParserEverySplit splits a mixed stream at every pair of offsets.
func TestParserEverySplit(t *testing.T) {
	in := "CONNECT {\"headers\":true}\r\nSUB a.*  q 1\r\nPUB a.b r 5\r\nhello\r\n" +
		"HPUB a.c 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nok\r\nUNSUB 1 \r\nPING\r\n"
	want, err := parseChunks(t, in, 0)
	if err != nil || len(want) != 6 {
		t.Fatalf("baseline: %v %q", err, want)
	}
	for i := 1; i < len(in); i++ {
		for j := i; j < len(in); j++ {
			p := NewParser(0, 0)
			var got []string
			fn := func(op *Op) error { got = append(got, render(op)); return nil }
			for _, part := range []string{in[:i], in[i:j], in[j:]} {
				if err := p.Parse([]byte(part), fn); err != nil {
					t.Fatalf("split %d/%d: %v", i, j, err)
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("split %d/%d:\n got %q\nwant %q", i, j, got, want)
			}
		}
	}
}

func TestParserControlLineLimit(t *testing.T) {
	line := func(n int) string { return "SUB " + strings.Repeat("a", n-len("SUB  1")) + " 1" }
	for _, tc := range []struct {
		n   int
		err error
	}{{4096, nil}, {4097, ErrMaxControlLine}} {
		for _, sizes := range [][]int{nil, {100}} {
			_, err := parseChunks(t, line(tc.n)+"\r\n", 0, sizes...)
			if !errors.Is(err, tc.err) {
				t.Errorf("len %d chunks %v: err %v, want %v", tc.n, sizes, err, tc.err)
			}
		}
	}
}

func TestParserCallbackErrorSticks(t *testing.T) {
	p := NewParser(0, 0)
	stop := errors.New("stop")
	n := 0
	err := p.Parse([]byte("PING\r\nPING\r\n"), func(*Op) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d ops", err, n)
	}
	if err := p.Parse([]byte("PING\r\n"), func(*Op) error { n++; return nil }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("parser not sticky: %v, %d ops", err, n)
	}
}

func TestClientText(t *testing.T) {
	tests := []struct {
		err  error
		text string
		ok   bool
	}{
		{fmt.Errorf("x: %w", ErrUnknownOp), "Unknown Protocol Operation", true},
		{ErrMaxPayload, "Maximum Payload Violation", true},
		{ErrMaxControlLine, "maximum control line exceeded", true},
		{ErrBadArgs, "", false},
		{errors.New("other"), "", false},
	}
	for _, tc := range tests {
		text, ok := ClientText(tc.err)
		if text != tc.text || ok != tc.ok {
			t.Errorf("ClientText(%v) = %q %v", tc.err, text, ok)
		}
	}
}

func TestParserReleasesLargeBuffers(t *testing.T) {
	p := NewParser(0, 0)
	big := strings.Repeat("x", 200<<10)
	in := fmt.Sprintf("PUB a %d\r\n%s\r\n", len(big), big)
	nop := func(*Op) error { return nil }
	if err := p.Parse([]byte(in[:100]), nop); err != nil {
		t.Fatal(err)
	}
	if err := p.Parse([]byte(in[100:]), nop); err != nil {
		t.Fatal(err)
	}
	if cap(p.msg) > keepBuf {
		t.Fatalf("parser kept %d bytes", cap(p.msg))
	}
}

func TestParserAllocs(t *testing.T) {
	in := []byte("PUB foo.bar _INBOX.x 5\r\nhello\r\nSUB foo  1\r\nPING\r\n")
	p := NewParser(0, 0)
	nop := func(*Op) error { return nil }
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Parse(in, nop); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per parse", allocs)
	}
}

func BenchmarkParserPub(b *testing.B) {
	in := []byte("PUB foo.bar _INBOX.abcdefgh.12345678 16\r\n0123456789abcdef\r\n")
	p := NewParser(0, 0)
	nop := func(*Op) error { return nil }
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Parse(in, nop); err != nil {
			b.Fatal(err)
		}
	}
}
