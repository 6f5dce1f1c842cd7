package bucket

import "strings"

// MatchFilter reports whether key matches filter, where "*" matches one
// token and a final ">" matches one or more tokens. "" and ">" match all.
func MatchFilter(filter, key string) bool {
	if filter == "" || filter == ">" {
		return true
	}
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		if ft == ">" {
			return key != ""
		}
		kt, krest, kmore := strings.Cut(key, ".")
		if ft != "*" && ft != kt {
			return false
		}
		if !fmore || !kmore {
			return fmore == kmore
		}
		filter, key = frest, krest
	}
}

// literalPrefix returns the part of filter before its first wildcard token,
// including the trailing dot, and whether the whole filter is literal.
func literalPrefix(filter string) (prefix string, literal bool) {
	if filter == "" || filter == ">" {
		return "", false
	}
	i := 0
	for i < len(filter) {
		j := strings.IndexByte(filter[i:], '.')
		tok := filter[i:]
		if j >= 0 {
			tok = filter[i : i+j]
		}
		if tok == "*" || tok == ">" {
			return filter[:i], false
		}
		if j < 0 {
			return filter, true
		}
		i += j + 1
	}
	return filter, true
}

// MatchAny reports whether key matches any filter (no filters: all keys).
func MatchAny(filters []string, key string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if MatchFilter(f, key) {
			return true
		}
	}
	return false
}
