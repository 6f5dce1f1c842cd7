package natsproto

import "testing"

func TestSubjects(t *testing.T) {
	tests := []struct {
		s                 string
		pub, literal, sub bool
	}{
		{"foo", true, true, true},
		{"foo.bar.baz", true, true, true},
		{"$JS.API.INFO", true, true, true},
		{"foo.*", true, false, true},
		{"foo.>", true, false, true},
		{">", true, false, true},
		{"*.*", true, false, true},
		{"foo.>.bar", true, false, false},
		{">.>", true, false, false},
		{"$JS.API.CONSUMER.CREATE.KV_T.c.$KV.T.>", true, false, true},
		{"a*b.c>", true, true, true}, // not wildcard tokens
		{"", false, false, false},
		{".", false, false, false},
		{"foo.", false, false, false},
		{".foo", false, false, false},
		{"foo..bar", false, false, false},
		{"foo bar", false, false, false},
		{"foo\tbar", false, false, false},
		{"foo\r", false, false, false},
		{"foo\n", false, false, false},
		{"ünï.cødé", true, true, true},
	}
	for _, tc := range tests {
		if got := ValidPublishSubject(tc.s); got != tc.pub {
			t.Errorf("ValidPublishSubject(%q) = %v", tc.s, got)
		}
		if got := ValidLiteralSubject([]byte(tc.s)); got != tc.literal {
			t.Errorf("ValidLiteralSubject(%q) = %v", tc.s, got)
		}
		if got := ValidSubscribeSubject(tc.s); got != tc.sub {
			t.Errorf("ValidSubscribeSubject(%q) = %v", tc.s, got)
		}
	}
}

func TestQueueName(t *testing.T) {
	for q, want := range map[string]bool{"q": true, "workers.v1": true, "": false, "a b": false, "a\r": false} {
		if got := ValidQueueName(q); got != want {
			t.Errorf("ValidQueueName(%q) = %v", q, got)
		}
	}
}
