package node

import "strings"

// ValidateBucketName checks the NATS KV bucket name rule.
func ValidateBucketName(name string) error {
	if name == "" {
		return errInvalidBucket(name, "must not be empty")
	}
	if len(name) > 250 {
		return errInvalidBucket(name, "longer than 250 characters")
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return errInvalidBucket(name, "only letters, digits, '-' and '_' are allowed")
		}
	}
	return nil
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func isKeyChar(c byte) bool { return isNameChar(c) || c == '/' || c == '=' || c == '.' }

// ValidateKey checks the NATS KV key rules.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return errInvalidKey(key, "must not be empty")
	case len(key) > 4096:
		return errInvalidKey(key[:32]+"...", "longer than 4096 bytes")
	case key[0] == '.':
		return errInvalidKey(key, "must not start with '.'")
	case key[len(key)-1] == '.':
		return errInvalidKey(key, "must not end with '.'")
	case strings.Contains(key, ".."):
		return errInvalidKey(key, "must not contain an empty token ('..')")
	case strings.HasPrefix(key, "_kv"):
		return errInvalidKey(key, "the '_kv' prefix is reserved")
	}
	for i := 0; i < len(key); i++ {
		if !isKeyChar(key[i]) {
			return errInvalidKey(key, "only letters, digits and '-', '_', '=', '/', '.' are allowed")
		}
	}
	return nil
}

// ValidateFilter checks a watch or listing filter: key characters plus
// '*' as a whole token and '>' as the last token.
func ValidateFilter(f string) error {
	if f == ">" || f == "" {
		return nil
	}
	if f[0] == '.' || f[len(f)-1] == '.' || strings.Contains(f, "..") {
		return errInvalidKey(f, "filter has an empty token")
	}
	toks := strings.Split(f, ".")
	for i, t := range toks {
		switch {
		case t == "*":
		case t == ">":
			if i != len(toks)-1 {
				return errInvalidKey(f, "'>' must be the last token")
			}
		default:
			for j := 0; j < len(t); j++ {
				if !isKeyChar(t[j]) {
					return errInvalidKey(f, "only key characters and the '*' and '>' wildcards are allowed")
				}
			}
		}
	}
	return nil
}
