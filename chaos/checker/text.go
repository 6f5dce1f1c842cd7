package checker

import "strconv"

func itoa(v uint64) string  { return strconv.FormatUint(v, 10) }
func quote(s string) string { return strconv.Quote(s) }
