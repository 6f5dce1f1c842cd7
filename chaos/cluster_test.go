package chaos

import (
	"slices"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/chaos/db"
	"github.com/cairnkv/cairn/chaos/nemesis"
)

// Every nemesis that needs the chaos network must be in netFaults, or a
// run that names it alone never sets the network up and refuses it.
func TestNetFaultsListsEveryNetworkNemesis(t *testing.T) {
	const why = "no network in this test"
	for _, nf := range nemesis.Names() {
		name := nf[0]
		_, _, err := nemesis.Resolve([]string{name}, nemesis.Target{WhyNoNet: why, WhyNoDisks: "-", WhyNoMembers: "-"})
		needsNet := err != nil && strings.Contains(err.Error(), why)
		if needsNet != slices.Contains(netFaults, name) {
			t.Errorf("nemesis %s: needs the network %v, listed in netFaults %v", name, needsNet, slices.Contains(netFaults, name))
		}
	}
}

func TestWithPeerKey(t *testing.T) {
	keyed := func(env []string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "CAIRN_PEER_KEY="); ok {
				return v
			}
		}
		return ""
	}
	if got := withPeerKey(db.Cairn, []string{"CAIRN_ELECTION_TIMEOUT=2s"}); len(keyed(got)) != 44 || len(got) != 2 {
		t.Fatalf("cairn without a key: %q", got)
	}
	if a, b := keyed(withPeerKey(db.Cairn, nil)), keyed(withPeerKey(db.Cairn, nil)); a == b {
		t.Fatal("two runs got the same key")
	}
	if got := withPeerKey(db.Cairn, []string{"CAIRN_PEER_KEY=mine"}); keyed(got) != "mine" || len(got) != 1 {
		t.Fatalf("cairn with its own key: %q", got)
	}
	if got := withPeerKey(db.NATS, nil); len(got) != 0 {
		t.Fatalf("nats-server: %q", got)
	}
}

func TestWithClientToken(t *testing.T) {
	token := func(env []string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "CAIRN_CLIENT_TOKEN="); ok {
				return v
			}
		}
		return ""
	}
	env, got := withClientToken(db.Cairn, []string{"CAIRN_ELECTION_TIMEOUT=2s"})
	if len(got) != 32 || token(env) != got || len(env) != 2 {
		t.Fatalf("cairn without credentials: %q, clients present %q", env, got)
	}
	if _, again := withClientToken(db.Cairn, nil); again == got {
		t.Fatal("two runs got the same token")
	}
	for _, tc := range []struct{ env, want string }{
		{"CAIRN_CLIENT_TOKEN=mine,old", "mine"},
		{"CAIRN_CLIENT_USERS=app:pw,ops:pw2", "app:pw"},
	} {
		env, got := withClientToken(db.Cairn, []string{tc.env})
		if got != tc.want || len(env) != 1 {
			t.Fatalf("%s: %q, clients present %q", tc.env, env, got)
		}
	}
	if env, got := withClientToken(db.NATS, nil); len(env) != 0 || got != "" {
		t.Fatalf("nats-server: %q %q", env, got)
	}
}
