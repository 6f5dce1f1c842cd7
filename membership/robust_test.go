package membership

import (
	"io"
	"log"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Garbage on the gossip port, over UDP and TCP, is dropped and logged; the
// node keeps working.
func TestGarbagePackets(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(1))
	addr := a.addr()
	rng := rand.New(rand.NewPCG(1, 2))
	junk := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	// Plausible-looking prefixes too: memberlist message types, a label
	// header, a compressed or encrypted marker, followed by junk.
	var payloads [][]byte
	for _, n := range []int{0, 1, 2, 3, 7, 64, 512, 1400, 60000} {
		payloads = append(payloads, junk(n))
	}
	for typ := range 16 {
		payloads = append(payloads, append([]byte{byte(typ)}, junk(40)...))
		payloads = append(payloads, append([]byte{byte(typ), 0xff, 0xff, 0xff, 0xff}, junk(8)...))
	}
	payloads = append(payloads,
		append([]byte{244, 5, 'c', 'a', 'i', 'r', 'n'}, junk(30)...), // label header "cairn"
		append([]byte{244, 200}, junk(3)...),                         // label header longer than the packet
	)

	udp, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, p := range payloads {
		if len(p) > 0 && len(p) < 65000 {
			udp.Write(p) // errors (e.g. ICMP refused) do not matter
		}
	}
	for _, p := range payloads {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatalf("gossip port stopped accepting: %v", err)
		}
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		c.Write(p)
		io.Copy(io.Discard, c) // until the node hangs up or the deadline
		c.Close()
	}
	// Half-open connections: connect and close without a byte.
	for range 5 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
		}
	}

	// memberlist noticed and logged the garbage (it logs from its own
	// goroutines: wait).
	waitFor(t, 5*time.Second, "garbage logged", func() bool {
		return a.logs.count("component=memberlist", "ERROR") > 0
	})

	// Still a working member: a new node joins through it.
	b := start(t, testConfig(2, addr))
	waitMembers(t, 10*time.Second, 2, a, b)
	if testing.Verbose() {
		t.Logf("memberlist errors logged: %d, warnings: %d", a.logs.count("component=memberlist", "ERROR"), a.logs.count("component=memberlist", "WARN"))
	}
	if got := a.Members(); len(got) != 2 {
		t.Fatalf("members after garbage: %v", ids(got))
	}
}

// rawDelegate is a memberlist delegate that publishes arbitrary metadata.
type rawDelegate struct{ meta []byte }

func (d rawDelegate) NodeMeta(int) []byte             { return d.meta }
func (d rawDelegate) NotifyMsg([]byte)                {}
func (d rawDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d rawDelegate) LocalState(bool) []byte          { return nil }
func (d rawDelegate) MergeRemoteState([]byte, bool)   {}
func startRaw(t *testing.T, name string, meta []byte, seed string) *memberlist.Memberlist {
	t.Helper()
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.Label = label(t.Name())
	c.Delegate = rawDelegate{meta: meta}
	c.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	if _, err := ml.Join([]string{seed}); err != nil {
		t.Fatalf("raw memberlist %s: join: %v", name, err)
	}
	return ml
}

// Peers whose metadata does not decode, or claims another node's ID, are
// logged and ignored; the cluster carries on around them.
func TestUndecodableMetadataIgnored(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(1))
	startRaw(t, "garbage-node", []byte{0xff, 0x00, 'x'}, a.addr())
	startRaw(t, NodeName(9), []byte(`{"v":1,"id":10}`), a.addr()) // claims ID 10 under the name of 9
	startRaw(t, NodeName(11), nil, a.addr())                      // no metadata at all
	waitFor(t, 5*time.Second, "three ignored members logged", func() bool {
		return a.logs.count("WARN ignoring member with undecodable metadata") >= 3
	})
	b := start(t, testConfig(2, a.addr()))
	waitMembers(t, 10*time.Second, 2, a, b)
	for _, n := range []*testNode{a, b} {
		waitFor(t, 5*time.Second, "b to hear of the garbage peers", func() bool {
			return n.logs.count("WARN ignoring member with undecodable metadata") >= 3
		})
		if got := ids(n.Members()); len(got) != 2 {
			t.Errorf("node %d lists %v, want only [1 2]", n.id, got)
		}
	}
}
