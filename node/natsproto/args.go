package natsproto

// maxArgs bounds how many arguments any client operation may carry;
// more means malformed, so a fixed array avoids allocation.
const maxArgs = 4

// splitArgs splits b on runs of spaces and tabs into dst, returning
// how many were found. n > len(dst) means there were too many.
func splitArgs(b []byte, dst *[maxArgs + 1][]byte) int {
	n := 0
	start := -1
	for i, c := range b {
		if c == ' ' || c == '\t' {
			if start >= 0 {
				if n < len(dst) {
					dst[n] = b[start:i]
				}
				n++
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		if n < len(dst) {
			dst[n] = b[start:]
		}
		n++
	}
	return n
}

// maxSizeDigits matches nats-server: sizes have at most 9 digits.
const maxSizeDigits = 9

// parseSize parses an unsigned decimal of at most 9 digits; -1 if b is
// anything else.
func parseSize(b []byte) int {
	if len(b) == 0 || len(b) > maxSizeDigits {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// isSpace reports whether c separates protocol arguments.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// trimSpace trims spaces, tabs and CR/LF on both ends.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// equalFold reports whether b equals upper, ASCII case-insensitively;
// upper must be upper case.
func equalFold(b []byte, upper string) bool {
	if len(b) != len(upper) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}
