package node

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// ClientAuth is what NATS clients (in CONNECT) and HTTP API callers must
// present, as nats-server's authorization block: one of the tokens, or
// one of the users with its password. The zero value asks for nothing.
//
// The first credential is the node's own: it uses it for the connections
// it opens to other nodes' client ports (forwarded requests) and to its
// own (in-process mounts), so it must be the same on every node and kept
// in plain text. The others are only accepted, so that a credential can
// be changed by rolling restarts, as the peer key can.
type ClientAuth struct {
	Tokens []string
	Users  []UserPassword
	// NKeys are user public keys ("U...") NATS clients may also sign in
	// with, as nats-server's nkey users: the client signs the nonce of
	// its INFO. Only with Tokens or Users, whose first is the node's own
	// credential; HTTP callers cannot use them.
	NKeys []string
}

// UserPassword is one user of ClientAuth. A Password that is a bcrypt
// hash ("$2a$...", as nats-server accepts and `htpasswd -bnBC 10 ""
// PASSWORD` makes) is compared as one.
type UserPassword struct {
	User, Password string
}

// Required reports whether clients must authenticate.
func (a ClientAuth) Required() bool { return len(a.Tokens)+len(a.Users) > 0 }

// Own returns the credential this node presents to client ports: a token,
// or a user and password (all empty when none is required).
func (a ClientAuth) Own() (user, password, token string) {
	switch {
	case len(a.Tokens) > 0:
		return "", "", a.Tokens[0]
	case len(a.Users) > 0:
		return a.Users[0].User, a.Users[0].Password, ""
	}
	return "", "", ""
}

// Check reports whether a client that presented user, password and token
// may connect. With tokens configured only the token counts; with users,
// only the user and password.
func (a ClientAuth) Check(user, password, token string) bool {
	if !a.Required() {
		return true
	}
	ok := false
	for _, t := range a.Tokens {
		// Every entry is compared, so the time taken does not say which
		// one matched.
		ok = secretMatches(t, token) || ok
	}
	for _, u := range a.Users {
		ok = (u.User == user && secretMatches(u.Password, password)) || ok
	}
	return ok
}

// CheckNKey reports whether a client may sign in with the nkey whose
// public key is pub (the NATS port checks the signature).
func (a ClientAuth) CheckNKey(pub string) bool {
	ok := false
	for _, k := range a.NKeys {
		ok = k == pub || ok
	}
	return ok
}

// secretMatches compares a configured secret (plain or a bcrypt hash)
// with a presented one.
func secretMatches(configured, presented string) bool {
	if isBcrypt(configured) {
		return bcrypt.CompareHashAndPassword([]byte(configured), []byte(presented)) == nil
	}
	return subtle.ConstantTimeCompare([]byte(configured), []byte(presented)) == 1
}

func isBcrypt(s string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2x$", "$2y$"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// parseClientAuth reads the client-token, client-users and client-nkeys
// settings.
func parseClientAuth(tokens, users, nkeyList []string) (ClientAuth, error) {
	var a ClientAuth
	if len(nkeyList) > 0 && len(tokens)+len(users) == 0 {
		return a, errors.New("client-nkeys needs client-token or client-users as well: the first of those is what nodes present to each other (an nkey signs in only on the NATS port)")
	}
	for i, k := range nkeyList {
		if !nkeys.IsValidPublicUserKey(k) {
			return a, fmt.Errorf("client-nkeys: key %d is not an nkey user public key (U..., as `nk -gen user -pubout` prints)", i+1)
		}
		a.NKeys = append(a.NKeys, k)
	}
	if len(tokens) > 0 && len(users) > 0 {
		return a, errors.New("client-token and client-users: set one or the other, not both (as nats-server)")
	}
	for i, t := range tokens {
		if t == "" {
			return a, fmt.Errorf("client-token: token %d is empty", i+1)
		}
		if i == 0 && isBcrypt(t) {
			return a, errors.New("client-token: the first token is the one nodes send each other, so it must be plain text; a bcrypt hash may follow it")
		}
		a.Tokens = append(a.Tokens, t)
	}
	seen := map[string]bool{}
	for i, u := range users {
		name, pass, ok := strings.Cut(u, ":")
		switch {
		case !ok || name == "" || pass == "":
			return a, fmt.Errorf("client-users: entry %d is not USER:PASSWORD", i+1)
		case strings.ContainsAny(name, " \t\r\n"):
			return a, fmt.Errorf("client-users: user %q has white space in its name", name)
		case seen[name]:
			return a, fmt.Errorf("client-users: user %q is listed twice", name)
		case i == 0 && isBcrypt(pass):
			return a, fmt.Errorf("client-users: the first user (%s) is the one nodes connect to each other as, so its password must be plain text; bcrypt hashes may follow", name)
		}
		seen[name] = true
		a.Users = append(a.Users, UserPassword{User: name, Password: pass})
	}
	return a, nil
}
