package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzPeerCalls sends the calls a node serves its peers (join, bucket
// info, reconcile, group members, leadership transfer, and a method it
// does not have) fuzzed payloads over the peer transport, as a member
// holding the peer key could. Each must be answered (an error is an
// answer) well within its deadline, and the node must still take writes
// afterwards.
func FuzzPeerCalls(f *testing.F) {
	methods := []string{"cluster.join", "bucket.info", "bucket.reconcile", "group.members", "group.transfer", "no.such.method"}
	for i := range methods {
		for _, p := range []string{``, `null`, `[`, `{}`, `{"bucket":"kv"}`, `{"bucket":"nope"}`, `{"bucket":"kv","to":18446744073709551615}`,
			`{"bucket":"kv","to":1}`, `{"node":{"id":77,"name":"x","tags":{"a":"b"}}}`, `{"node":{"id":0}}`, `{"bucket":"` + strings.Repeat("b", 300) + `"}`} {
			f.Add(uint8(i), []byte(p))
		}
	}

	// Each fuzzing worker is a process of its own: its node gets
	// addresses of its own.
	pid := os.Getpid()
	ip := fmt.Sprintf("127.5.%d.%d", (pid>>8)&0xff, max(pid&0xff, 1))
	key := bytes.Repeat([]byte{'k'}, 32)
	cfg := (&testCluster{dirs: map[int]string{1: f.TempDir()}}).config(1, 1)
	cfg.PeerAddr, cfg.GossipAddr, cfg.Join = ip+":16222", ip+":17946", nil
	cfg.ClusterName = fmt.Sprintf("fuzz-peer-calls-%d", pid)
	cfg.PeerKey = base64.StdEncoding.EncodeToString(key)
	n, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = n.Close() })
	b := mustBucket(f, n, BucketConfig{Name: "kv"})

	caller := dialerTo(f, n, 1<<62+9, key)

	f.Fuzz(func(t *testing.T, method uint8, payload []byte) {
		m := methods[int(method)%len(methods)]
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		start := time.Now()
		_, err := caller.Call(ctx, n.NodeID(), m, payload)
		if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("%s %q: answered after %v: %v", m, payload, time.Since(start), err)
		}
		if m == "group.members" && string(payload) == `{"bucket":"kv"}` && err != nil {
			// The anchor: a well-formed call reaches the node and works.
			t.Fatalf("%s %s: %v", m, payload, err)
		}
		if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatalf("after %s %q the node takes no write: %v", m, payload, err)
		}
	})
}
