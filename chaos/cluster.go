package chaos

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cairnkv/cairn/chaos/db"
	"github.com/cairnkv/cairn/chaos/nemesis"
	"github.com/cairnkv/cairn/chaos/netfault"
)

// netFaults are the nemeses that need network namespaces.
var netFaults = []string{"partition-halves", "partition-bridge", "partition-leader", "loss", "delay", "slow"}

// wants reports whether the nemesis list asks for any of names,
// explicitly or through "all"; explicit is true when one is named.
func wants(list, names []string) (want, explicit bool) {
	for _, n := range list {
		n = strings.TrimSpace(n)
		if n == "all" {
			want = true
		}
		if slices.Contains(names, n) {
			want, explicit = true, true
		}
	}
	return want, explicit
}

// startLocal starts the cluster with what the nemeses need: network
// namespaces for network faults, a tmpfs per node for the disk nemesis.
// Faults that cannot run here are refused when named, skipped (with the
// reason) when they come from "all".
func startLocal(ctx context.Context, cfg *Config) (*db.Local, nemesis.Target, error) {
	o := db.Options{Kind: cfg.Target, Bin: cfg.Bin, Nodes: cfg.Nodes, Dir: filepath.Join(cfg.Dir, "nodes"),
		RunID: netfault.RunID(), NATSSyncAlways: cfg.NATSSyncAlways, TLS: !cfg.NoTLS, Logger: cfg.Logger}
	o.Env, o.ClientAuth = withClientToken(cfg.Target, withPeerKey(cfg.Target, cfg.NodeEnv))
	var t nemesis.Target
	if want, explicit := wants(cfg.Nemeses, netFaults); want {
		if err := netfault.Probe(); err != nil {
			if explicit {
				return nil, t, err
			}
			t.WhyNoNet = err.Error()
		} else {
			o.NetNS = true
			if gone, _ := netfault.CleanupStale(); len(gone) > 0 {
				cfg.Logger.Warn("removed network namespaces left by an earlier run", "namespaces", gone)
			}
		}
	} else {
		t.WhyNoNet = "not asked for"
	}
	if want, explicit := wants(cfg.Nemeses, []string{"disk"}); want {
		if err := db.ProbeDisk(cfg.Dir); err != nil {
			if explicit {
				return nil, t, err
			}
			t.WhyNoDisks = err.Error()
		} else {
			o.DiskSize = cfg.DiskSize
		}
	} else {
		t.WhyNoDisks = "not asked for"
	}
	if cfg.Target != db.Cairn {
		t.WhyNoMembers = "membership changes are implemented for cairn only"
	}
	l, err := db.Start(ctx, o)
	if err != nil {
		return nil, t, fmt.Errorf("starting %d %s nodes: %w", cfg.Nodes, cfg.Target, err)
	}
	t.Cluster = l
	if n := l.Net(); n != nil {
		t.Net = n
	}
	if o.DiskSize > 0 {
		t.Disks = l
	}
	if cfg.Target == db.Cairn {
		t.Members = l
	}
	return l, t, nil
}

// withClientToken gives a cairn cluster a fresh client token unless env
// sets client credentials, and returns what the harness's clients must
// present (the first of those env sets): every client connection, every
// request a node forwards to another, and the harness's HTTP calls then
// authenticate, as in a cluster run the way docs/operations.md advises.
func withClientToken(target string, env []string) ([]string, string) {
	if target != db.Cairn {
		return env, ""
	}
	for _, kv := range env {
		for _, name := range []string{"CAIRN_CLIENT_TOKEN=", "CAIRN_CLIENT_USERS="} {
			if v, ok := strings.CutPrefix(kv, name); ok {
				first, _, _ := strings.Cut(v, ",")
				return env, first
			}
		}
	}
	token := base64.RawURLEncoding.EncodeToString(randomBytes(24))
	return append(slices.Clone(env), "CAIRN_CLIENT_TOKEN="+token), token
}

// withPeerKey gives a cairn cluster a fresh peer key unless env sets one,
// so that every reconnect after a fault goes through the authenticated
// handshake, as in a cluster run the way docs/operations.md advises.
func withPeerKey(target string, env []string) []string {
	if target != db.Cairn || slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "CAIRN_PEER_KEY=") }) {
		return env
	}
	return append(slices.Clone(env), "CAIRN_PEER_KEY="+base64.StdEncoding.EncodeToString(randomBytes(32)))
}

// randomBytes is n bytes from crypto/rand, for the run's secrets.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on Linux
	return b
}
