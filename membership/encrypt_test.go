package membership

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestEncryption(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	withKey := func(k []byte) func(*Config) { return func(c *Config) { c.SecretKey = k } }
	nodes := startCluster(t, 2, withKey(key)) // same key: they form a cluster
	a, b := nodes[0], nodes[1]

	for _, c := range []struct {
		name string
		id   uint64
		key  []byte
	}{
		{"other key", 3, bytes.Repeat([]byte{9}, 32)},
		{"no key", 4, nil},
		{"other key size", 5, bytes.Repeat([]byte{7}, 16)},
	} {
		cfg := testConfig(c.id, a.addr())
		cfg.SecretKey = c.key
		out := start(t, cfg)
		waitFor(t, 10*time.Second, fmt.Sprintf("%s: three failed join attempts", c.name), func() bool {
			return out.logs.count("WARN joining the cluster failed") >= 3
		})
		if got := out.Alive(); len(got) != 1 {
			t.Errorf("%s: outsider sees %v", c.name, ids(got))
		}
		for _, in := range []*testNode{a, b} {
			if _, ok := in.member(c.id); ok {
				t.Errorf("%s: node %d lets the outsider in", c.name, in.id)
			}
		}
	}
	if got := a.Alive(); len(got) != 2 {
		t.Errorf("keyed cluster: %v", ids(got))
	}
}

func TestInvalidKey(t *testing.T) {
	for _, n := range []int{1, 15, 17, 31, 33, 64} {
		cfg := testConfig(1)
		cfg.SecretKey = make([]byte, n)
		m, err := Start(cfg)
		if err == nil {
			m.Close()
			t.Fatalf("%d-byte key accepted", n)
		}
		if !errors.Is(err, ErrBadKey) {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
	for _, n := range []int{16, 24, 32} {
		cfg := testConfig(1)
		cfg.SecretKey = make([]byte, n)
		start(t, cfg)
	}
}
