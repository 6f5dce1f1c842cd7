package natsproto

import (
	"bytes"
	"fmt"
	"strconv"
)

// HeaderVersion starts every header block (ADR-4).
const HeaderVersion = "NATS/1.0"

// Header is a parsed header block. Raw is the block verbatim; the other
// slices alias it.
type Header struct {
	Raw []byte
	// Status is the inline 3-digit status, 0 when there is none.
	Status int
	// Description follows the status on the version line, trimmed.
	Description []byte
	// Fields are the Key: Value lines in order, values trimmed. Keys
	// keep their case; lookups are case-sensitive like nats.go's.
	Fields []HeaderField
}

// HeaderField is one Key: Value line.
type HeaderField struct {
	Key, Value []byte
}

// ParseHeader parses raw with the same leniency as nats.go: line ends
// may be CRLF or LF, keys are not validated, empty keys are skipped.
func ParseHeader(raw []byte) (Header, error) {
	h := Header{Raw: raw}
	n := bytes.Count(raw, []byte{'\n'})
	if n > 1 {
		h.Fields = make([]HeaderField, 0, n-2)
	}
	status, desc, _, err := scanHeader(raw, func(k, v []byte) bool {
		h.Fields = append(h.Fields, HeaderField{Key: k, Value: v})
		return true
	})
	if err != nil {
		return Header{}, err
	}
	h.Status, h.Description = status, desc
	return h, nil
}

// Get returns the first value for key (exact, case-sensitive).
func (h *Header) Get(key string) ([]byte, bool) {
	for _, f := range h.Fields {
		if string(f.Key) == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Values returns every value for key in order.
func (h *Header) Values(key string) [][]byte {
	var vs [][]byte
	for _, f := range h.Fields {
		if string(f.Key) == key {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// HeaderValue returns the first value of key (exact, case-sensitive) in
// the raw block without allocating. ok is false if the key is absent or
// raw is not a valid block.
func HeaderValue(raw []byte, key string) (value []byte, ok bool) {
	if len(raw) == 0 {
		return nil, false // most publishes carry no header: no error to build
	}
	_, _, _, err := scanHeader(raw, func(k, v []byte) bool {
		if !ok && string(k) == key {
			value, ok = v, true
		}
		return true
	})
	if err != nil {
		return nil, false
	}
	return value, ok
}

// scanHeader walks raw, calling fn for each field until fn returns
// false. It validates the whole block unless fn stops early. end is the
// offset just past the closing blank line (0 if fn stopped early).
func scanHeader(raw []byte, fn func(key, value []byte) bool) (status int, desc []byte, end int, err error) {
	line, rest, ok := nextLine(raw)
	if !ok || !bytes.HasPrefix(line, []byte(HeaderVersion)) {
		return 0, nil, 0, fmt.Errorf("%w: missing %s", ErrBadHeader, HeaderVersion)
	}
	if st := trimSP(line[len(HeaderVersion):]); len(st) > 0 {
		if len(st) < 3 {
			return 0, nil, 0, fmt.Errorf("%w: bad status %q", ErrBadHeader, st)
		}
		for _, c := range st[:3] {
			if c < '0' || c > '9' {
				return 0, nil, 0, fmt.Errorf("%w: bad status %q", ErrBadHeader, st)
			}
		}
		status = int(st[0]-'0')*100 + int(st[1]-'0')*10 + int(st[2]-'0')
		desc = trimSP(st[3:])
		if len(desc) == 0 {
			desc = nil
		}
	}
	for {
		line, rest, ok = nextLine(rest)
		if !ok {
			return 0, nil, 0, fmt.Errorf("%w: no terminating blank line", ErrBadHeader)
		}
		if len(line) == 0 {
			return status, desc, len(raw) - len(rest), nil
		}
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			return 0, nil, 0, fmt.Errorf("%w: line without colon", ErrBadHeader)
		}
		if i == 0 {
			continue
		}
		if !fn(line[:i:i], trimSP(line[i+1:])) {
			return status, desc, 0, nil
		}
	}
}

func nextLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line = b[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line[:len(line):len(line)], b[i+1:], true
}

// trimSP trims spaces and tabs.
func trimSP(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// AppendStatusLine appends the version line, with status (1..999,
// written as 3 digits) and description when status is not 0:
// `NATS/1.0 503 desc\r\n`.
func AppendStatusLine(dst []byte, status int, description string) []byte {
	dst = append(dst, HeaderVersion...)
	if status != 0 {
		dst = append(dst, ' ')
		if status < 100 {
			dst = append(dst, '0')
		}
		if status < 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendInt(dst, int64(status%1000), 10)
		if description != "" {
			dst = append(dst, ' ')
			dst = append(dst, description...)
		}
	}
	return append(dst, "\r\n"...)
}

// AppendField appends `key: value\r\n`. It does not validate; see
// ValidHeaderKey and ValidHeaderValue.
func AppendField[T Text](dst []byte, key string, value T) []byte {
	dst = append(dst, key...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendHeaderEnd appends the blank line that closes a block.
func AppendHeaderEnd(dst []byte) []byte { return append(dst, "\r\n"...) }

// StatusHeader builds a complete block with a status line and the
// given key/value pairs, e.g. StatusHeader(503, "", "Nats-Subject", s).
// A trailing odd key is ignored.
func StatusHeader(status int, description string, kv ...string) []byte {
	n := len(HeaderVersion) + 4 + len(description) + 5
	for _, s := range kv {
		n += len(s) + 4
	}
	b := AppendStatusLine(make([]byte, 0, n), status, description)
	for i := 0; i+1 < len(kv); i += 2 {
		b = AppendField(b, kv[i], kv[i+1])
	}
	return AppendHeaderEnd(b)
}

// AppendHeader returns a new block: raw with `key: value` added as its
// last field. raw is never modified; nil or empty raw starts a fresh
// `NATS/1.0` block. raw must be a valid block that ends with the CRLF
// blank line closing it.
func AppendHeader(raw []byte, key, value string) ([]byte, error) {
	if !ValidHeaderKey(key) || !ValidHeaderValue(value) {
		return nil, fmt.Errorf("%w: invalid field %q", ErrBadHeader, key)
	}
	if len(raw) == 0 {
		raw = []byte(HeaderVersion + "\r\n\r\n")
	}
	_, _, end, err := scanHeader(raw, func(_, _ []byte) bool { return true })
	if err != nil {
		return nil, err
	}
	body, ok := bytes.CutSuffix(raw, []byte("\r\n"))
	if end != len(raw) || !ok {
		return nil, fmt.Errorf("%w: block must end with its CRLF blank line", ErrBadHeader)
	}
	out := make([]byte, 0, len(raw)+len(key)+len(value)+4)
	out = append(out, body...)
	out = AppendField(out, key, value)
	return AppendHeaderEnd(out), nil
}

// ValidHeaderKey reports whether key can be written as a field name:
// non-empty, printable ASCII, no colon or whitespace.
func ValidHeaderKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether value can be written as a field
// value that parses back unchanged: no CR or LF, no surrounding spaces
// or tabs.
func ValidHeaderValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if value[i] == '\r' || value[i] == '\n' {
			return false
		}
	}
	return len(value) == 0 || (!isSpace(value[0]) && !isSpace(value[len(value)-1]))
}
