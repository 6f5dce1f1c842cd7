package fusefs

import (
	"errors"
	"strings"
)

// The mapping between keys and paths (docs/fuse.md, "Names").
//
// A key is a dot-separated list of tokens; each token is one path
// component. Keys may only hold [-/_=.A-Za-z0-9], while a file name may
// hold any byte but '/' and NUL, so each token is translated:
//
//   - A file name becomes a token by keeping [A-Za-z0-9_-] and writing
//     every other byte as '=' and two upper-case hex digits ("notes.txt"
//     is the token "notes=2Etxt", "é" is "=C3=A9"). Every name the mount
//     creates gets such a canonical token.
//   - A token becomes a name by decoding those escapes. Tokens that other
//     clients wrote and that are not canonical are still shown: a literal
//     '/' appears as "%2F", and a '=' that does not start a decodable
//     escape appears as "%3D" ("a/b" is the name "a%2Fb", "k=v" is
//     "k%3Dv"). A decoded '%' that would be read back as one of those
//     sequences is shown as "%25".
//
// The two directions are inverses: every valid key has exactly one path,
// and a name maps to a key only if that key maps back to the same name.
// Names that do not (for example "%25" on its own, whose canonical form
// is "%") are unmappable and cannot be created.
//
// A key can be both a value and a prefix of other keys ("a.b" and
// "a.b.c"). Then a/b is a directory, and the value of "a.b" is the file
// a/b/.cairn-value (valueName).

// valueName is the reserved name, inside a directory, of the value stored
// under the directory's own key.
const valueName = ".cairn-value"

// maxNameLen is the longest file name Linux accepts (NAME_MAX).
const maxNameLen = 255

// maxKeyLen bounds keys the mount creates, so that a request's control
// line ("HPUB $KV.<bucket>.<key> <inbox> <sizes>") stays well inside the
// 4 KiB servers accept.
const maxKeyLen = 2048

var (
	// errUnmappable means a file name has no key.
	errUnmappable = errors.New("name has no key (see docs/fuse.md, Names)")
	// errBadKey means a key holds bytes or dots no valid key holds.
	errBadKey = errors.New("not a valid key")
)

// isSafe reports whether b is kept as-is in both keys and names.
func isSafe(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

func isUpperHex(b byte) bool { return '0' <= b && b <= '9' || 'A' <= b && b <= 'F' }

func unhex(b byte) byte {
	if b <= '9' {
		return b - '0'
	}
	return b - 'A' + 10
}

const hexDigits = "0123456789ABCDEF"

// decodable reports whether the key escape "=XY" at tok[i] stands for a
// byte a file name shows as itself: not a safe byte (those are never
// escaped), not NUL or '/' (names cannot hold them).
func decodable(tok string, i int) (byte, bool) {
	if i+2 >= len(tok) || tok[i] != '=' || !isUpperHex(tok[i+1]) || !isUpperHex(tok[i+2]) {
		return 0, false
	}
	b := unhex(tok[i+1])<<4 | unhex(tok[i+2])
	if isSafe(b) || b == 0 || b == '/' {
		return 0, false
	}
	return b, true
}

// isRawCode reports whether s starts with one of the name-side sequences
// "%2F", "%3D", "%25" (after the '%').
func isRawCode(s string) bool {
	return len(s) >= 2 && (s[:2] == "2F" || s[:2] == "3D" || s[:2] == "25")
}

// tokenName returns the file name of one key token.
func tokenName(tok string) (string, error) {
	if tok == "" {
		return "", errBadKey
	}
	name, err := renderToken(tok)
	if err != nil {
		return "", err
	}
	if name == "." || name == ".." || name == valueName {
		// Only "=2E" can start such a name: show that '=' raw, so the
		// name is not the special one.
		rest, _ := renderToken(tok[1:])
		name = "%3D" + rest
	}
	return name, nil
}

// renderToken decodes tok's escapes and shows the rest raw.
func renderToken(tok string) (string, error) {
	var out strings.Builder
	out.Grow(len(tok))
	var percents []int // positions of decoded '%' in out
	for i := 0; i < len(tok); {
		c := tok[i]
		switch {
		case isSafe(c):
			out.WriteByte(c)
			i++
		case c == '=':
			if b, ok := decodable(tok, i); ok {
				if b == '%' {
					percents = append(percents, out.Len())
				}
				out.WriteByte(b)
				i += 3
			} else {
				out.WriteString("%3D")
				i++
			}
		case c == '/':
			out.WriteString("%2F")
			i++
		default:
			return "", errBadKey
		}
	}
	name := out.String()
	// A decoded '%' followed by "2F", "3D" or "25" would read back as a
	// raw sequence; write it as "%25" instead. Right to left, so earlier
	// positions stay valid.
	for j := len(percents) - 1; j >= 0; j-- {
		p := percents[j]
		if isRawCode(name[p+1:]) {
			name = name[:p+1] + "25" + name[p+1:]
		}
	}
	return name, nil
}

// nameToken returns the key token of a file name, or errUnmappable.
func nameToken(name string) (string, error) {
	if name == "" || name == "." || name == ".." || name == valueName || len(name) > maxNameLen {
		return "", errUnmappable
	}
	var out strings.Builder
	out.Grow(len(name) * 3)
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == 0 || c == '/':
			return "", errUnmappable
		case isSafe(c):
			out.WriteByte(c)
		case c == '%' && isRawCode(name[i+1:]):
			switch name[i+1 : i+3] {
			case "2F":
				out.WriteByte('/')
			case "3D":
				out.WriteByte('=')
			default: // "25"
				out.WriteString("=25")
			}
			i += 2
		default:
			out.WriteByte('=')
			out.WriteByte(hexDigits[c>>4])
			out.WriteByte(hexDigits[c&0xF])
		}
	}
	tok := out.String()
	if back, err := tokenName(tok); err != nil || back != name {
		return "", errUnmappable
	}
	return tok, nil
}

// validKey reports whether key is a key nats.go accepts:
// [-/_=.A-Za-z0-9]+, no leading or trailing dot, no empty token.
func validKey(key string) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, "..") {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !isSafe(c) && c != '.' && c != '=' && c != '/' {
			return false
		}
	}
	return true
}

// childKey is the key of name inside the directory whose key prefix is
// dir ("" for the root).
func childKey(dir, name string) (string, error) {
	if name == valueName {
		if dir == "" {
			return "", errUnmappable
		}
		return dir, nil
	}
	tok, err := nameToken(name)
	if err != nil {
		return "", err
	}
	return joinKey(dir, tok), nil
}

// joinKey appends a token to a key prefix.
func joinKey(dir, tok string) string {
	if dir == "" {
		return tok
	}
	return dir + "." + tok
}

// splitKey returns a key's directory prefix and last token.
func splitKey(key string) (dir, tok string) {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

// keyPath returns the slash-separated path of a key inside the mount
// (without the .cairn-value suffix a key that is also a directory has).
func keyPath(key string) (string, error) {
	if !validKey(key) {
		return "", errBadKey
	}
	toks := strings.Split(key, ".")
	for i, t := range toks {
		n, err := tokenName(t)
		if err != nil {
			return "", err
		}
		toks[i] = n
	}
	return strings.Join(toks, "/"), nil
}

// pathKey returns the key of a slash-separated path inside the mount;
// a last component .cairn-value names its directory's key.
func pathKey(p string) (string, error) {
	key := ""
	names := strings.Split(p, "/")
	for i, name := range names {
		if name == valueName && i != len(names)-1 {
			return "", errUnmappable
		}
		k, err := childKey(key, name)
		if err != nil {
			return "", err
		}
		key = k
	}
	return key, nil
}
