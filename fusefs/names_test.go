package fusefs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTokenNames(t *testing.T) {
	for _, tc := range []struct{ tok, name string }{
		{"plain", "plain"},
		{"Mixed_Case-09", "Mixed_Case-09"},
		{"notes=2Etxt", "notes.txt"},
		{"=2Egit", ".git"},
		{"two=20words", "two words"},
		{"caf=C3=A9", "café"},
		{"=3D", "="}, // an escaped '=' is a plain '='
		{"year=3D2024", "year=2024"},
		{"=25", "%"},                           // a lone percent
		{"50=25", "50%"},                       // a trailing percent
		{"a/b", "a%2Fb"},                       // a literal slash
		{"k=v", "k%3Dv"},                       // a bare '='
		{"=", "%3D"},                           // only a bare '='
		{"x=2e", "x%3D2e"},                     // lower-case hex is not an escape
		{"=41", "%3D41"},                       // an escape of a safe byte is not decoded
		{"=2F", "%3D2F"},                       // nor one of '/'
		{"=00", "%3D00"},                       // nor one of NUL
		{"=252F", "%252F"},                     // a percent before "2F" is written %25
		{"=25=3D", "%="},                       // percent before a decoded '=' needs nothing
		{"=25/", "%%2F"},                       // percent before a raw slash
		{"=2E", "%3D2E"},                       // would be "."
		{"=2E=2E", "%3D2E."},                   // would be ".."
		{"=2Ecairn-value", "%3D2Ecairn-value"}, // would be the reserved name
		{"=2Ecairn-values", ".cairn-values"},
	} {
		got, err := tokenName(tc.tok)
		if err != nil || got != tc.name {
			t.Errorf("tokenName(%q) = %q, %v; want %q", tc.tok, got, err, tc.name)
			continue
		}
		back, err := nameToken(tc.name)
		if err != nil || back != tc.tok {
			t.Errorf("nameToken(%q) = %q, %v; want %q", tc.name, back, err, tc.tok)
		}
	}
}

func TestUnmappableNames(t *testing.T) {
	for _, name := range []string{
		"", ".", "..", valueName, "a/b", "nul\x00", strings.Repeat("x", 256),
		"%25",    // canonical form is "%"
		"a%25b",  // canonical form is "a%b"
		"%3D2Ex", // canonical form is ".x"
		"%3D3D",  // canonical form is "="
	} {
		if tok, err := nameToken(name); err == nil {
			t.Errorf("nameToken(%q) = %q, want errUnmappable", name, tok)
		}
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ key, path string }{
		{"a", "a"},
		{"a.b.c", "a/b/c"},
		{"src.main=2Ego", "src/main.go"},
		{"cfg.app/prod", "cfg/app%2Fprod"},
	} {
		p, err := keyPath(tc.key)
		if err != nil || p != tc.path {
			t.Errorf("keyPath(%q) = %q, %v; want %q", tc.key, p, err, tc.path)
		}
		k, err := pathKey(tc.path)
		if err != nil || k != tc.key {
			t.Errorf("pathKey(%q) = %q, %v; want %q", tc.path, k, err, tc.key)
		}
	}
	if k, err := pathKey("a/b/" + valueName); err != nil || k != "a.b" {
		t.Errorf("pathKey(a/b/%s) = %q, %v; want a.b", valueName, k, err)
	}
	for _, p := range []string{valueName, "a/" + valueName + "/b", "a//b"} {
		if k, err := pathKey(p); err == nil {
			t.Errorf("pathKey(%q) = %q, want an error", p, k)
		}
	}
	for _, k := range []string{"", ".a", "a.", "a..b", "a b", "a*", "a>"} {
		if validKey(k) {
			t.Errorf("validKey(%q) = true", k)
		}
		if p, err := keyPath(k); err == nil {
			t.Errorf("keyPath(%q) = %q, want an error", k, p)
		}
	}
}

// FuzzNameMapping checks that the mapping is a bijection between valid key
// tokens and the names that map: token → name → token gives the token back,
// and name → token → name gives the name back whenever the name maps.
func FuzzNameMapping(f *testing.F) {
	for _, s := range []string{
		"notes.txt", ".git", "a/b", "k=v", "%", "%25", "=2E", "%3D2E", "café",
		".cairn-value", "=25=252F", "x=2e", "50%2F", "\xff\x01", "a%2Fb%3Dc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// s as a key token: keep only key bytes, drop dots.
		tok := strings.Map(func(r rune) rune {
			if r < utf8.RuneSelf && (isSafe(byte(r)) || r == '=' || r == '/') {
				return r
			}
			return -1
		}, s)
		if tok != "" {
			name, err := tokenName(tok)
			if err != nil {
				t.Fatalf("tokenName(%q): %v", tok, err)
			}
			if name == "" || name == "." || name == ".." || name == valueName ||
				strings.ContainsAny(name, "/\x00") {
				t.Fatalf("tokenName(%q) = %q, not a usable name", tok, name)
			}
			if len(name) > maxNameLen {
				return // too long for Linux; the mount skips such keys
			}
			back, err := nameToken(name)
			if err != nil || back != tok {
				t.Fatalf("token %q → name %q → %q, %v", tok, name, back, err)
			}
		}
		// s as a file name.
		tok, err := nameToken(s)
		if err != nil {
			return
		}
		if strings.Contains(tok, ".") || !validKey(tok) {
			t.Fatalf("nameToken(%q) = %q, not a valid key token", s, tok)
		}
		back, err := tokenName(tok)
		if err != nil || back != s {
			t.Fatalf("name %q → token %q → %q, %v", s, tok, back, err)
		}
	})
}
