package httpapi

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"
)

// With client credentials configured (node.ClientAuth), every route but
// health and metrics asks for them: a bearer token, or basic
// authentication with a user and password (or, with tokens, the token as
// the password, so that http://any:TOKEN@host URLs work). A request
// without them gets 401.

// publicPaths need no credentials, as nats-server's monitoring port: load
// balancers and Prometheus reach them without any.
var publicPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// authCacheMax bounds the credentials remembered as checked: a bcrypt
// comparison takes tens of milliseconds, too long for every request.
const authCacheMax = 1024

// authCache remembers credentials that passed the check, by a digest of
// what was presented.
type authCache struct {
	mu sync.Mutex
	ok map[[sha256.Size]byte]bool
}

func (c *authCache) known(k [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok[k]
}

func (c *authCache) add(k [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok == nil || len(c.ok) >= authCacheMax {
		c.ok = map[[sha256.Size]byte]bool{}
	}
	c.ok[k] = true
}

// authorized reports whether r may be served.
func (s *Server) authorized(r *http.Request) bool {
	a := s.n.ClientAuth()
	if !a.Required() || publicPaths[r.URL.Path] {
		return true
	}
	var user, pass, token string
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = strings.TrimSpace(t)
	} else if u, p, ok := r.BasicAuth(); ok {
		user, pass = u, p
		if len(a.Tokens) > 0 {
			user, pass, token = "", "", p
		}
	} else {
		return false
	}
	k := sha256.Sum256([]byte(user + "\x00" + pass + "\x00" + token))
	if s.authOK.known(k) {
		return true
	}
	if !a.Check(user, pass, token) {
		return false
	}
	s.authOK.add(k)
	return true
}

// unauthorized answers a request without valid credentials.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	// One line a second at most: a scanner must not flood the log (the
	// access log and cairn_http_requests_total count every 401).
	if now := time.Now().UnixNano(); now-s.authWarned.Load() >= int64(time.Second) {
		s.authWarned.Store(now)
		s.lg.Warn("http request without valid credentials", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="cairn", charset="UTF-8"`)
	writeError(w, &apiError{Code: http.StatusUnauthorized, Description: "authorization required: this node asks for its client token or a user and password (client-token, client-users)"})
}
