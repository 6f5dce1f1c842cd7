package node

import (
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

func TestParseClientAuth(t *testing.T) {
	mk := func(create func() (nkeys.KeyPair, error)) string {
		kp, err := create()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		return pub
	}
	userPub, otherPub, accountPub := mk(nkeys.CreateUser), mk(nkeys.CreateUser), mk(nkeys.CreateAccount)
	hash, err := bcrypt.GenerateFromPassword([]byte("old-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                 string
		tokens, users, nkeys []string
		wantErr              string
		own                  [3]string // user, password, token
	}{
		{name: "none"},
		{name: "tokens", tokens: []string{"new", "old"}, own: [3]string{"", "", "new"}},
		{name: "users", users: []string{"app:pw", "ops:" + string(hash)}, own: [3]string{"app", "pw", ""}},
		{name: "password with colon", users: []string{"app:p:w"}, own: [3]string{"app", "p:w", ""}},
		{name: "both", tokens: []string{"t"}, users: []string{"a:b"}, wantErr: "not both"},
		{name: "empty token", tokens: []string{"t", ""}, wantErr: "token 2 is empty"},
		{name: "first token hashed", tokens: []string{string(hash)}, wantErr: "plain text"},
		{name: "no password", users: []string{"app"}, wantErr: "not USER:PASSWORD"},
		{name: "empty password", users: []string{"app:"}, wantErr: "not USER:PASSWORD"},
		{name: "empty user", users: []string{":pw"}, wantErr: "not USER:PASSWORD"},
		{name: "space in user", users: []string{"a b:pw"}, wantErr: "white space"},
		{name: "twice", users: []string{"a:1", "a:2"}, wantErr: "listed twice"},
		{name: "first password hashed", users: []string{"a:" + string(hash)}, wantErr: "plain text"},
		{name: "nkeys with users", users: []string{"app:pw"}, nkeys: []string{userPub}, own: [3]string{"app", "pw", ""}},
		{name: "nkeys with a token", tokens: []string{"t"}, nkeys: []string{userPub}, own: [3]string{"", "", "t"}},
		{name: "nkeys alone", nkeys: []string{userPub}, wantErr: "needs client-token or client-users"},
		{name: "not a user key", users: []string{"app:pw"}, nkeys: []string{"UNOTAKEY"}, wantErr: "key 1 is not an nkey user public key"},
		{name: "an account key", users: []string{"app:pw"}, nkeys: []string{userPub, accountPub}, wantErr: "key 2 is not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parseClientAuth(tc.tokens, tc.users, tc.nkeys)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u, p, tok := a.Own(); [3]string{u, p, tok} != tc.own {
				t.Fatalf("Own() = %q %q %q, want %q", u, p, tok, tc.own)
			}
			if a.Required() != (len(tc.tokens)+len(tc.users) > 0) {
				t.Fatalf("Required() = %v", a.Required())
			}
			for _, k := range tc.nkeys {
				if !a.CheckNKey(k) {
					t.Fatalf("CheckNKey(%s) = false", k)
				}
			}
			if a.CheckNKey(otherPub) {
				t.Fatal("an nkey not configured accepted")
			}
		})
	}
}

func TestClientAuthCheck(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("old-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := parseClientAuth([]string{"new", string(hash)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	users, err := parseClientAuth(nil, []string{"app:pw", "ops:" + string(hash)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		a                 ClientAuth
		user, pass, token string
		want              bool
	}{
		{"nothing required", ClientAuth{}, "", "", "", true},
		{"token", tokens, "", "", "new", true},
		{"hashed token", tokens, "", "", "old-pw", true},
		{"the hash itself", tokens, "", "", string(hash), false},
		{"wrong token", tokens, "", "", "newer", false},
		{"no token", tokens, "", "", "", false},
		{"token as password", tokens, "app", "new", "", false},
		{"user", users, "app", "pw", "", true},
		{"hashed password", users, "ops", "old-pw", "", true},
		{"another's password", users, "ops", "pw", "", false},
		{"wrong password", users, "app", "PW", "", false},
		{"unknown user", users, "bob", "pw", "", false},
		{"password as token", users, "", "", "pw", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Check(tc.user, tc.pass, tc.token); got != tc.want {
				t.Fatalf("Check(%q, %q, %q) = %v, want %v", tc.user, tc.pass, tc.token, got, tc.want)
			}
		})
	}
}
