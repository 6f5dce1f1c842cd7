package natsproto

// Wildcard tokens in subscription subjects.
const (
	TokenWildcard     = "*" // exactly one token
	TokenFullWildcard = ">" // one or more trailing tokens
)

// ValidPublishSubject reports whether s can be published to: non-empty
// `.`-separated tokens without whitespace. Tokens `*` and `>` are allowed
// and are routed as literal tokens (nats.go publishes such subjects).
func ValidPublishSubject[T Text](s T) bool {
	return checkSubject(s, false, false)
}

// ValidLiteralSubject is ValidPublishSubject without wildcard tokens;
// pedantic clients' publishes are held to it, as in nats-server.
func ValidLiteralSubject[T Text](s T) bool {
	return checkSubject(s, true, false)
}

// ValidSubscribeSubject reports whether s can be subscribed to: like a
// publish subject, where a `>` token must be the last one.
func ValidSubscribeSubject[T Text](s T) bool {
	return checkSubject(s, false, true)
}

func checkSubject[T Text](s T, literal, sub bool) bool {
	if len(s) == 0 {
		return false
	}
	start := 0
	sawFWC := false
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if isWS(s[i]) {
				return false
			}
			continue
		}
		n := i - start
		if n == 0 || sawFWC {
			return false
		}
		if n == 1 && (s[start] == '*' || s[start] == '>') {
			if literal {
				return false
			}
			if sub && s[start] == '>' {
				sawFWC = true
			}
		}
		start = i + 1
	}
	return true
}

// ValidQueueName reports whether q can name a queue group: non-empty,
// no whitespace.
func ValidQueueName[T Text](q T) bool {
	if len(q) == 0 {
		return false
	}
	for i := 0; i < len(q); i++ {
		if isWS(q[i]) {
			return false
		}
	}
	return true
}
