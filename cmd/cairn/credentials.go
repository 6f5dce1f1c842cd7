package main

import (
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
)

// Environment variables for the client verbs' credentials, as the
// --user, --password and --token flags (which win).
const (
	envUser     = envPrefix + "_USER"
	envPassword = envPrefix + "_PASSWORD"
	envToken    = envPrefix + "_TOKEN"
)

// credentials are what the client verbs present to nodes started with
// --client-token or --client-users: a token, or a user and password.
// Credentials in a URL (nats://TOKEN@host, http://USER:PASS@host) work
// too; these flags keep them out of URLs that end up in shell history.
type credentials struct {
	user, password, token string
}

func (c *credentials) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.user, "user", "", "user `NAME` to authenticate as (or set "+envUser+"), for nodes started with --client-users")
	fs.StringVar(&c.password, "password", "", "password of --user (or set "+envPassword+")")
	fs.StringVar(&c.token, "token", "", "token to authenticate with (or set "+envToken+"), for nodes started with --client-token")
}

// resolved returns the flags' values, each falling back to its
// environment variable; when none is set, the node's own credential
// (the first of CAIRN_CLIENT_TOKEN or CAIRN_CLIENT_USERS), so that a verb
// run where the node runs (a container's health check) gets in.
func (c credentials) resolved() credentials {
	pick := func(flag, env string) string {
		if flag != "" {
			return flag
		}
		return os.Getenv(env)
	}
	r := credentials{user: pick(c.user, envUser), password: pick(c.password, envPassword), token: pick(c.token, envToken)}
	if r != (credentials{}) {
		return r
	}
	if t, _, _ := strings.Cut(os.Getenv(envPrefix+"_CLIENT_TOKEN"), ","); t != "" {
		return credentials{token: t}
	}
	if u, _, _ := strings.Cut(os.Getenv(envPrefix+"_CLIENT_USERS"), ","); u != "" {
		user, pass, _ := strings.Cut(u, ":")
		return credentials{user: user, password: pass}
	}
	return r
}

// natsOptions present the credentials to a NATS server.
func (c credentials) natsOptions() []nats.Option {
	r := c.resolved()
	switch {
	case r.token != "":
		return []nats.Option{nats.Token(r.token)}
	case r.user != "":
		return []nats.Option{nats.UserInfo(r.user, r.password)}
	}
	return nil
}

// authorize adds the credentials to an HTTP API request that carries
// none (credentials in its URL are sent as basic authentication).
func (c credentials) authorize(req *http.Request) {
	if req.Header.Get("Authorization") != "" || req.URL.User != nil {
		return
	}
	r := c.resolved()
	switch {
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	case r.user != "":
		req.SetBasicAuth(r.user, r.password)
	}
}

// redactURLs replaces the passwords and tokens of URLs (comma-separated)
// for messages.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
