package natsproto

import (
	"bytes"
	"fmt"
)

// Defaults that match nats-server.
const (
	DefaultMaxControlLine = 4096
	DefaultMaxPayload     = 1 << 20
)

// keepBuf is the largest internal buffer a Parser keeps between
// messages; bigger ones are dropped so idle connections stay small.
const keepBuf = 64 << 10

type parseState uint8

const (
	stateLine parseState = iota
	statePayload
)

// Parser is a streaming parser for client→server operations. Feed it
// bytes in chunks of any size with Parse; operations split across
// chunks are reassembled. Operation names are case-insensitive,
// arguments are separated by runs of spaces or tabs, trailing
// whitespace is ignored and lines may end in CRLF or LF; payloads must
// be followed by CRLF. Server-side operations sent by a client (+OK,
// -ERR, INFO, MSG, HMSG) are unknown operations. A Parser is not safe
// for concurrent use. After Parse returns an error the Parser stays
// failed.
type Parser struct {
	maxLine    int
	maxPayload int

	state parseState
	line  []byte // partial control line carried between chunks
	op    Op     // PUB/HPUB waiting for its payload
	args  []byte // owned copy of op's subject and reply
	msg   []byte // partial payload plus CRLF
	need  int    // payload size plus CRLF
	hdr   int    // HPUB header size
	err   error
}

// NewParser returns a Parser with the given limits; values ≤ 0 select
// DefaultMaxPayload and DefaultMaxControlLine.
func NewParser(maxPayload, maxControlLine int) *Parser {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	if maxControlLine <= 0 {
		maxControlLine = DefaultMaxControlLine
	}
	return &Parser{maxLine: maxControlLine, maxPayload: maxPayload}
}

// Parse consumes buf, calling fn for each complete operation in order.
// Op slices are only valid during fn. If fn returns an error, parsing
// stops and Parse returns it; otherwise Parse returns the first protocol
// error (wrapping ErrUnknownOp, ErrMaxControlLine, ErrMaxPayload or
// ErrBadArgs). Bytes after an error are not examined.
func (p *Parser) Parse(buf []byte, fn func(*Op) error) error {
	if p.err != nil {
		return p.err
	}
	for len(buf) > 0 {
		var err error
		if p.state == statePayload {
			buf, err = p.payload(buf, fn)
		} else {
			buf, err = p.controlLine(buf, fn)
		}
		if err != nil {
			p.err = err
			return err
		}
	}
	return nil
}

// controlLine consumes one control line (and, when it is all there, the
// payload that follows it) and returns the unconsumed rest of buf.
func (p *Parser) controlLine(buf []byte, fn func(*Op) error) ([]byte, error) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		if len(p.line)+len(buf) > p.maxLine+1 { // +1: a CR may still come
			return nil, fmt.Errorf("%w: %d bytes without newline", ErrMaxControlLine, len(p.line)+len(buf))
		}
		p.line = append(p.line, buf...)
		return nil, nil
	}
	line := buf[:i]
	rest := buf[i+1:]
	if len(p.line) > 0 {
		if len(p.line)+i > p.maxLine+1 {
			return nil, fmt.Errorf("%w: %d bytes", ErrMaxControlLine, len(p.line)+i)
		}
		p.line = append(p.line, line...)
		line = p.line
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > p.maxLine {
		return nil, fmt.Errorf("%w: %d bytes", ErrMaxControlLine, len(line))
	}
	op := &p.op
	*op = Op{}
	if err := p.parseLine(line, op); err != nil {
		return nil, err
	}
	if op.Kind != OpPub && op.Kind != OpHPub {
		err := fn(op)
		p.resetLine()
		return rest, err
	}
	if len(rest) >= p.need {
		body := rest[:p.need]
		rest = rest[p.need:]
		err := p.deliver(body, fn)
		p.resetLine()
		return rest, err
	}
	// The payload is split: keep the arguments and what we have.
	p.args = append(p.args[:0], op.Subject...)
	p.args = append(p.args, op.Reply...)
	op.Subject = p.args[:len(op.Subject):len(op.Subject)]
	if len(op.Reply) > 0 {
		op.Reply = p.args[len(op.Subject):]
	}
	if cap(p.msg) < p.need {
		p.msg = make([]byte, 0, p.need)
	}
	p.msg = append(p.msg[:0], rest...)
	p.state = statePayload
	p.resetLine()
	return nil, nil
}

// payload continues a split PUB/HPUB payload.
func (p *Parser) payload(buf []byte, fn func(*Op) error) ([]byte, error) {
	n := min(p.need-len(p.msg), len(buf))
	p.msg = append(p.msg, buf[:n]...)
	buf = buf[n:]
	if len(p.msg) < p.need {
		return buf, nil
	}
	err := p.deliver(p.msg, fn)
	p.state = stateLine
	p.msg = p.msg[:0]
	if cap(p.msg) > keepBuf {
		p.msg = nil
	}
	if cap(p.args) > keepBuf {
		p.args = nil
	}
	return buf, err
}

// deliver checks body (payload plus CRLF) and hands the op to fn.
func (p *Parser) deliver(body []byte, fn func(*Op) error) error {
	size := len(body) - 2
	if body[size] != '\r' || body[size+1] != '\n' {
		return fmt.Errorf("%w: %s payload not followed by CRLF", ErrUnknownOp, p.op.Kind)
	}
	op := &p.op
	hdr := 0
	if op.Kind == OpHPub {
		hdr = p.hdr
		op.Header = body[:hdr:hdr]
	}
	op.Payload = body[hdr:size:size]
	return fn(op)
}

func (p *Parser) resetLine() {
	p.line = p.line[:0]
	if cap(p.line) > keepBuf {
		p.line = nil
	}
}

// parseLine parses one control line without its line terminator.
func (p *Parser) parseLine(line []byte, op *Op) error {
	if len(line) >= 4 {
		// Like nats-server, anything after PING or PONG is ignored.
		if equalFold(line[:4], "PING") {
			op.Kind = OpPing
			return nil
		}
		if equalFold(line[:4], "PONG") {
			op.Kind = OpPong
			return nil
		}
	}
	j := 0
	for j < len(line) && !isSpace(line[j]) {
		j++
	}
	name, rest := line[:j], line[j:]
	switch {
	case equalFold(name, "PUB"):
		op.Kind = OpPub
	case equalFold(name, "HPUB"):
		op.Kind = OpHPub
	case equalFold(name, "SUB"):
		op.Kind = OpSub
	case equalFold(name, "UNSUB"):
		op.Kind = OpUnsub
	case equalFold(name, "CONNECT"):
		op.Kind = OpConnect
		op.JSON = trimSpace(rest)
		return nil
	default:
		return fmt.Errorf("%w: %q", ErrUnknownOp, snippet(line))
	}
	if len(rest) == 0 {
		// nats-server wants whitespace right after the operation name.
		return fmt.Errorf("%w: %s without arguments", ErrUnknownOp, op.Kind)
	}
	var a [maxArgs + 1][]byte
	n := splitArgs(rest, &a)
	switch op.Kind {
	case OpPub:
		return p.pubArgs(op, a[:min(n, len(a))], line)
	case OpHPub:
		return p.hpubArgs(op, a[:min(n, len(a))], line)
	case OpSub:
		switch n {
		case 2:
			op.Subject, op.SID = a[0], a[1]
		case 3:
			op.Subject, op.Queue, op.SID = a[0], a[1], a[2]
		default:
			return badArgs(line)
		}
	case OpUnsub:
		switch n {
		case 1:
			op.SID = a[0]
		case 2:
			op.SID = a[0]
			op.Max = max(parseSize(a[1]), 0)
		default:
			return badArgs(line)
		}
	}
	return nil
}

func (p *Parser) pubArgs(op *Op, a [][]byte, line []byte) error {
	var sz []byte
	switch len(a) {
	case 2:
		op.Subject, sz = a[0], a[1]
	case 3:
		op.Subject, op.Reply, sz = a[0], a[1], a[2]
	default:
		return badArgs(line)
	}
	size := parseSize(sz)
	if size < 0 {
		return badArgs(line)
	}
	if size > p.maxPayload {
		return fmt.Errorf("%w: %d > %d", ErrMaxPayload, size, p.maxPayload)
	}
	p.need = size + 2
	return nil
}

func (p *Parser) hpubArgs(op *Op, a [][]byte, line []byte) error {
	var hb, tb []byte
	switch len(a) {
	case 3:
		op.Subject, hb, tb = a[0], a[1], a[2]
	case 4:
		op.Subject, op.Reply, hb, tb = a[0], a[1], a[2], a[3]
	default:
		return badArgs(line)
	}
	hdr, total := parseSize(hb), parseSize(tb)
	if hdr < 0 || total < 0 || hdr > total {
		return badArgs(line)
	}
	if total > p.maxPayload {
		return fmt.Errorf("%w: %d > %d", ErrMaxPayload, total, p.maxPayload)
	}
	p.need = total + 2
	p.hdr = hdr
	return nil
}

func badArgs(line []byte) error {
	return fmt.Errorf("%w: %q", ErrBadArgs, snippet(line))
}

// snippet bounds how much of a bad line goes into an error message.
func snippet(b []byte) []byte {
	const n = 64
	if len(b) > n {
		return b[:n]
	}
	return b
}
