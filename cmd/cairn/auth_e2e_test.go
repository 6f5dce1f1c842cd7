package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnkv/cairn/node/testcert"
)

// A node started with --client-token (or --client-users) lets in only
// clients that present it: the kv verbs with --token, $CAIRN_TOKEN or the
// token in the URL, the HTTP verbs likewise, and the node's own mount.
func TestE2EClientAuth(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	n := startCairn(t, childEnv(), append(nodeArgs(data), "--client-token", "tok,old")...)
	rec := n.waitLog(t, msgStarted)
	url, _ := rec["client-url"].(string)
	httpURL, _ := rec["http-url"].(string)
	if url == "" || httpURL == "" {
		t.Fatalf("startup line: %v", rec)
	}
	withToken := strings.Replace(url, "nats://", "nats://tok@", 1)

	// Refused: no token, a wrong one (never echoed back).
	for _, r := range []cliResult{
		cli(t, "", nil, "kv", "add", "files", "-s", url),
		cli(t, "", nil, "kv", "add", "files", "-s", url, "--token", "wrong"),
		cli(t, "", nil, "kv", "add", "files", "-s", strings.Replace(url, "nats://", "nats://secretword@", 1)),
		cli(t, "", nil, "cluster", "nodes", "--http", httpURL),
		cli(t, "", nil, "cluster", "nodes", "--http", httpURL, "--token", "wrong"),
	} {
		msg := wantFailure(t, r)
		if !strings.Contains(msg, "Authorization Violation") && !strings.Contains(msg, "authorization required") {
			t.Fatalf("refusal does not say why: %v", r)
		}
		if strings.Contains(r.stderr+r.stdout, "secretword") {
			t.Fatalf("the URL's token is shown: %v", r)
		}
	}
	// Let in: the flag, the environment, the URL; the old token too.
	for _, r := range []cliResult{
		cli(t, "", nil, "kv", "add", "files", "-s", url, "--token", "tok"),
		cli(t, "", []string{envToken + "=old"}, "kv", "put", "files", "a.b", "hello", "-s", url),
		cli(t, "", nil, "kv", "get", "files", "a.b", "--raw", "-s", withToken),
		cli(t, "", nil, "cluster", "nodes", "--http", httpURL, "--token", "tok"),
		cli(t, "", []string{envToken + "=old"}, "cluster", "nodes", "--http", httpURL),
		cli(t, "", nil, "cluster", "nodes", "--http", strings.Replace(httpURL, "http://", "http://any:tok@", 1)),
	} {
		if r.code != 0 {
			t.Fatalf("want success: %v", r)
		}
	}
	n.signal(t, syscall.SIGTERM)
	if code := n.waitExit(t); code != 0 {
		t.Fatalf("node exit %d", code)
	}

	// The token from the environment this time; the mount is the node's
	// own client and must present it.
	t.Run("mount", func(t *testing.T) { readThroughNodeMount(t, []string{"CAIRN_CLIENT_TOKEN=tok"}, nodeArgs(data)) })
}

// readThroughNodeMount starts a node with args and the environment env,
// mounting bucket files in-process, and reads key a.b ("hello") through
// the mount.
func readThroughNodeMount(t *testing.T, env, args []string) {
	needMount(t)
	dir := mountDir(t)
	n := startCairn(t, childEnv(env...), append(args, "--mount", "files:"+dir)...)
	n.waitLog(t, "mounted")
	if got, err := os.ReadFile(filepath.Join(dir, "a/b")); err != nil || string(got) != "hello" {
		t.Fatalf("a/b through the node's mount: %q, %v", got, err)
	}
	n.signal(t, syscall.SIGTERM)
	if code := n.waitExit(t); code != 0 {
		t.Fatalf("node exit %d; stderr:\n%s", code, n.stderr)
	}
}

// Credentials that cannot work stop the node at start with what is wrong.
func TestE2EClientAuthMustBeValid(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--client-token", "t", "--client-users", "a:b"}, "not both"},
		{[]string{"--client-users", "nopassword"}, "USER:PASSWORD"},
		{[]string{"--client-users", "a:$2a$10$abcdefghijklmnopqrstuuJ9bUQXQJ4y4d2K1yqZ0m3iBq8P2m6mW"}, "plain text"},
	} {
		n := startCairn(t, childEnv(), append(nodeArgs(filepath.Join(t.TempDir(), "data")), tc.args...)...)
		if code := n.waitExit(t); code == 0 || !strings.Contains(n.stderr.String(), tc.want) {
			t.Fatalf("%v: exit %d; stderr:\n%s", tc.args, code, n.stderr)
		}
	}
}

// A node with --client-tls-cert serves its NATS port and HTTP API over
// TLS only; the client verbs get in with --tls-ca (or CAIRN_TLS_CA), and
// with --client-tls-verify also --tls-cert and --tls-key (or
// CAIRN_TLS_CERT, CAIRN_TLS_KEY); the node's own mount connects to it
// over TLS, presenting its certificate when asked.
func TestE2EClientTLS(t *testing.T) {
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) { e2eClientTLS(t, verify) })
	}
}

func e2eClientTLS(t *testing.T, verify bool) {
	certs := testcert.New(t, "127.0.0.1")
	data := filepath.Join(t.TempDir(), "data")
	tlsArgs := []string{"--client-tls-cert", certs.CertFile, "--client-tls-key", certs.KeyFile, "--client-tls-ca", certs.CAFile}
	// What a client needs besides the token: the CA, and with verify a
	// certificate (the node's own will do: the CA signed it for clients
	// too).
	clientTLS := []string{"--tls-ca", certs.CAFile}
	clientEnv := []string{envTLSCA + "=" + certs.CAFile}
	if verify {
		tlsArgs = append(tlsArgs, "--client-tls-verify")
		clientTLS = append(clientTLS, "--tls-cert", certs.CertFile, "--tls-key", certs.KeyFile)
		clientEnv = append(clientEnv, envTLSCert+"="+certs.CertFile, envTLSKey+"="+certs.KeyFile)
	}
	n := startCairn(t, childEnv(), append(append(nodeArgs(data), tlsArgs...), "--client-token", "tok")...)
	rec := n.waitLog(t, msgStarted)
	url, _ := rec["client-url"].(string)
	httpURL, _ := rec["http-url"].(string)
	if !strings.HasPrefix(url, "tls://") || !strings.HasPrefix(httpURL, "https://") {
		t.Fatalf("startup line: %v", rec)
	}
	refused := []cliResult{
		cli(t, "", nil, "kv", "add", "files", "-s", url, "--token", "tok"),
		cli(t, "", nil, "cluster", "nodes", "--http", httpURL, "--token", "tok"),
		cli(t, "", nil, "health", "-s", url, "--token", "tok"),
	}
	if verify { // the CA but no certificate
		refused = append(refused,
			cli(t, "", nil, "kv", "add", "files", "-s", url, "--token", "tok", "--tls-ca", certs.CAFile),
			cli(t, "", nil, "cluster", "nodes", "--http", httpURL, "--token", "tok", "--tls-ca", certs.CAFile))
	}
	for _, r := range refused {
		msg := wantFailure(t, r)
		if !strings.Contains(msg, "certificate") {
			t.Fatalf("the failure does not say why: %v", r)
		}
	}
	for _, r := range []cliResult{
		cli(t, "", nil, append([]string{"kv", "add", "files", "-s", url, "--token", "tok"}, clientTLS...)...),
		cli(t, "", append(clientEnv, envToken+"=tok"), "kv", "put", "files", "a.b", "hello", "-s", url),
		cli(t, "", nil, append([]string{"cluster", "nodes", "--http", httpURL, "--token", "tok"}, clientTLS...)...),
		cli(t, "", clientEnv, "health", "-s", url, "--token", "tok", "--ready", "--http", httpURL),
		cli(t, "", nil, append([]string{"bench", "put", "-s", url, "--token", "tok",
			"--clients", "2", "--ops", "50", "--duration", "0", "--warmup", "0", "--progress=false"}, clientTLS...)...),
	} {
		if r.code != 0 {
			t.Fatalf("want success: %v", r)
		}
	}
	t.Run("cairn mount", func(t *testing.T) {
		needMount(t)
		dir := mountDir(t)
		m := startCairn(t, childEnv(), append([]string{"mount", "files", dir, "-s", url, "--token", "tok", "--log-format", "json"}, clientTLS...)...)
		m.waitLog(t, "mounted")
		if got, err := os.ReadFile(filepath.Join(dir, "a/b")); err != nil || string(got) != "hello" {
			t.Fatalf("a/b through cairn mount: %q, %v", got, err)
		}
		m.signal(t, syscall.SIGTERM)
		if code := m.waitExit(t); code != 0 {
			t.Fatalf("cairn mount exit %d; stderr:\n%s", code, m.stderr)
		}
	})
	n.signal(t, syscall.SIGTERM)
	if code := n.waitExit(t); code != 0 {
		t.Fatalf("node exit %d", code)
	}

	t.Run("node mount", func(t *testing.T) {
		readThroughNodeMount(t, []string{"CAIRN_CLIENT_TOKEN=tok"}, append(nodeArgs(data), tlsArgs...))
	})
}
