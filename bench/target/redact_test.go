package target

import "testing"

// Credentials in server URLs never reach messages or reports: a token,
// a password (the user stays, to tell credentials apart), each URL of a
// list; URLs without credentials, and text that is no URL, pass as
// they are.
func TestRedactURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://s3cret@127.0.0.1:4222", "nats://xxxxx@127.0.0.1:4222"},
		{"nats://bob:s3cret@h1:4222", "nats://bob:xxxxx@h1:4222"},
		{"tls://tok@h1:4222,nats://h2:4222, nats://a:b@h3:4222", "tls://xxxxx@h1:4222,nats://h2:4222,nats://a:xxxxx@h3:4222"},
		{"https://u:p@h:8222/v1", "https://u:xxxxx@h:8222/v1"},
		{"not a url %zz", "not a url %zz"},
		{"", ""},
	} {
		if got := RedactURLs(tc.in); got != tc.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
