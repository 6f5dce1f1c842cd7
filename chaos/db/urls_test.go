package db

import (
	"testing"

	"github.com/cairnkv/cairn/bench/cluster"
	"github.com/cairnkv/cairn/node/testcert"
)

func TestLocalURLs(t *testing.T) {
	nodes := []cluster.Node{{ClientAddr: "10.0.0.1:4222", HTTPAddr: "10.0.0.1:8222"}}
	for _, tc := range []struct {
		name, auth        string
		tls               bool
		wantNATS, wantAPI string
	}{
		{"plain", "", false, "nats://10.0.0.1:4222", "http://10.0.0.1:8222"},
		{"token", "t0k", false, "nats://t0k@10.0.0.1:4222", "http://chaos:t0k@10.0.0.1:8222"},
		{"user", "app:p@ss", false, "nats://app:p%40ss@10.0.0.1:4222", "http://app:p%40ss@10.0.0.1:8222"},
		{"tls and token", "t0k", true, "tls://t0k@10.0.0.1:4222", "https://chaos:t0k@10.0.0.1:8222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Local{o: Options{ClientAuth: tc.auth}, c: &cluster.Cluster{Nodes: nodes}}
			if tc.tls {
				l.tls = testcert.New(t, "10.0.0.1")
			}
			if got := l.URLs()[0]; got != tc.wantNATS {
				t.Errorf("URLs: %s, want %s", got, tc.wantNATS)
			}
			if got := l.HTTPURL(0); got != tc.wantAPI {
				t.Errorf("HTTPURL: %s, want %s", got, tc.wantAPI)
			}
			if got := len(l.NATSOptions()); (got > 0) != tc.tls {
				t.Errorf("%d NATS options with TLS %v", got, tc.tls)
			}
		})
	}
}
