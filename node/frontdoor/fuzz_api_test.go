package frontdoor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// apiFuzzPrefixes are where a fuzzed request goes: the JetStream API a KV
// client uses and the KV publish subjects. Every request to them must be
// answered, whatever follows the prefix and whatever the headers and body.
var apiFuzzPrefixes = []string{
	"$JS.API.",
	"$JS.API.STREAM.CREATE.",
	"$JS.API.STREAM.UPDATE.",
	"$JS.API.STREAM.INFO.",
	"$JS.API.STREAM.PURGE.",
	"$JS.API.STREAM.DELETE.",
	"$JS.API.STREAM.MSG.GET.",
	"$JS.API.STREAM.MSG.DELETE.",
	"$JS.API.DIRECT.GET.",
	"$JS.API.CONSUMER.CREATE.",
	"$JS.API.CONSUMER.INFO.",
	"$JS.API.CONSUMER.DELETE.",
	"$KV.fz.",
}

// FuzzJetStreamAPI sends requests with fuzzed subjects (after a known
// prefix), headers and bodies to a running one-node cairn over a real
// connection. Each must get an answer (a reply or a no-responders
// status) and leave the node serving: bad input gets an error, never a
// crash or a hang. The seed corpus (testdata/fuzz/FuzzJetStreamAPI and
// the seeds below) runs in every `go test`; `go test -fuzz
// FuzzJetStreamAPI ./node/frontdoor/` explores further.
func FuzzJetStreamAPI(f *testing.F) {
	nc, js := connect(f, startCairn(f))
	fuzzBucket(f, js)
	addAPISeeds(f)
	f.Fuzz(func(t *testing.T, prefix uint8, tail, header string, data []byte) {
		fuzzAPIRequest(t, nc, js, prefix, tail, header, data)
	})
}

// fuzzBucket creates the bucket the seeds aim at, "fz", with a key.
func fuzzBucket(f *testing.F, js jetstream.JetStream) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "fz", History: 3})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		f.Fatal(err)
	}
}

// addAPISeeds adds the seeds of the API fuzz targets: requests that
// reached bugs, and one of each kind a KV client sends.
func addAPISeeds(f *testing.F) {
	seeds := []struct {
		prefix       uint8
		tail, header string
		data         string
	}{
		{0, "INFO", "", ""},
		{0, "STREAM.NAMES", "", `{"subject":"$KV.fz.>"}`},
		{0, "STREAM.LIST", "", `{"offset":-1}`},
		{0, "STREAM.NAMES", "", `{"offset":-9223372036854775808}`},
		{0, "STREAM.NAMES", "", `{"offset":9223372036854775807}`},
		{3, "KV_fz", "", `{"subjects_filter":">","offset":-1}`},
		{3, "KV_fz", "", `{"subjects_filter":">","offset":9223372036854775807}`},
		{1, "KV_new", "", `{"name":"KV_new","subjects":["$KV.new.>"],"max_msgs_per_subject":1,"allow_direct":true}`},
		{1, "KV_bad", "", `{"name":"KV_bad","subjects":["$KV.bad.>"],"max_msgs_per_subject":-5,"num_replicas":7}`},
		{1, "KV_x", "", `{"name":"KV_y"}`},
		{1, "KV_x", "", `{"name":`},
		{2, "KV_fz", "", `{"name":"KV_fz","subjects":["$KV.fz.>"],"max_msgs_per_subject":99999999999}`},
		{3, "KV_fz", "", `{"subjects_filter":">"}`},
		{3, "KV_nope", "", ""},
		{4, "KV_fz", "", `{"filter":"$KV.fz.k","keep":-1}`},
		{6, "KV_fz", "", `{"seq":18446744073709551615}`},
		{6, "KV_fz", "", `{"last_by_subj":"$KV.fz.*"}`},
		{7, "KV_fz", "", `{"seq":1}`},
		{8, "KV_fz", "", `{"last_by_subj":"$KV.fz.k"}`},
		{8, "KV_fz", "", `{"batch":-1,"multi_last":["$KV.fz.>"],"up_to_seq":-3}`},
		{8, "KV_fz.$KV.fz.k", "", ""},
		{8, "KV_fz.$KV.fz.k", "", "body on a subject get"},
		{9, "KV_fz", "", `{"stream_name":"KV_fz","config":{"deliver_subject":"_INBOX.fz","flow_control":true,"idle_heartbeat":-1,"deliver_policy":"by_start_sequence","opt_start_seq":0}}`},
		{9, "KV_fz.c.$KV.fz.>", "", `{"stream_name":"KV_other","config":{"name":"d"}}`},
		{10, "KV_fz.nope", "", ""},
		{11, "KV_fz.nope", "", ""},
		{12, "k", "KV-Operation: PURGE\nNats-Rollup: sub", ""},
		{12, "k", "Nats-Expected-Last-Subject-Sequence: -1", "v"},
		{12, "k", "Nats-TTL: 1x", "v"},
		{12, "k", "Nats-TTL: -5s", "v"},
		{12, "_kv.reserved", "", "v"},
		{12, "a..b", "", "v"},
		{12, "a.*", "", "v"},
		{12, "k", "Nats-Expected-Stream: KV_other", "v"},
	}
	for _, s := range seeds {
		f.Add(s.prefix, s.tail, s.header, []byte(s.data))
	}
}

// fuzzAPIRequest sends one fuzzed request through nc and fails t unless
// it is answered and the node behind nc still answers account info.
func fuzzAPIRequest(t *testing.T, nc *nats.Conn, js jetstream.JetStream, prefix uint8, tail, header string, data []byte) {
	t.Helper()
	subject := apiFuzzPrefixes[int(prefix)%len(apiFuzzPrefixes)] + tail
	if !sendable(subject) {
		return // not a subject a client can send
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	for _, line := range strings.Split(header, "\n") {
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || strings.ContainsAny(k+v, "\r\x00") || strings.ContainsAny(k, " \t") {
			continue
		}
		msg.Header.Add(k, v)
	}
	_, err := nc.RequestMsg(msg, 5*time.Second)
	if errors.Is(err, nats.ErrBadHeaderMsg) {
		// nats.go refuses to send such a header key; the node's
		// header parser has a fuzz target of its own (natsproto).
		return
	}
	if errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("no answer within 5s to %q (headers %v, %d bytes of body)", subject, msg.Header, len(data))
	}
	if err != nil && !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request to %q: %v", subject, err)
	}
	// The node still serves.
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		t.Fatalf("after a request to %q the node no longer answers account info: %v", subject, err)
	}
}

// FuzzClusterAPI is FuzzJetStreamAPI through a node of a three-node
// cluster that holds no replica of the bucket, so every request about it
// takes the forwarding paths (routing, relays, retries on the next
// replica) before it is answered.
func FuzzClusterAPI(f *testing.F) {
	// Fuzzing runs a cluster in each worker process: the addresses are
	// the process's own, and the cluster name keeps any two apart.
	net := fmt.Sprintf("127.%d.3", 10+os.Getpid()%240)
	nodes := startCairnCluster(f, 3, func(cfg *node.Config) {
		i := strings.TrimPrefix(cfg.Name, "n")
		cfg.ClientAddr = net + "." + i + ":0"
		cfg.PeerAddr = net + "." + i + ":16222"
		cfg.GossipAddr = net + "." + i + ":17946"
		cfg.Join = []string{net + ".1:17946", net + ".2:17946"}
		cfg.ClusterName = "fuzz-" + net
	})
	_, js0 := connect(f, nodes[0].url)
	fuzzBucket(f, js0)
	var far *clusterNode
	for _, cn := range nodes {
		if _, local, ok := cn.n.Locate("fz"); ok && !local {
			far = cn
		}
	}
	if far == nil {
		f.Fatal("every node holds the R1 bucket")
	}
	nc, js := connect(f, far.url)
	addAPISeeds(f)
	f.Fuzz(func(t *testing.T, prefix uint8, tail, header string, data []byte) {
		fuzzAPIRequest(t, nc, js, prefix, tail, header, data)
	})
}

// sendable reports whether a client can put subject on the wire: no
// spaces or control characters, and no empty token.
func sendable(subject string) bool {
	if strings.ContainsAny(subject, " \t\r\n\x00") || len(subject) > 4096 {
		return false
	}
	for _, tok := range strings.Split(subject, ".") {
		if tok == "" {
			return false
		}
	}
	return true
}
