package jetstream

import (
	"errors"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsserver"
	"github.com/nats-io/nats.go"
)

// passedOnHeader marks a stream info request one replica passed on to
// the bucket's leader: the leader answers it whatever it then believes,
// so a request never travels between replicas more than once.
const passedOnHeader = "Cairn-Passed-On"

// infoFromLeader passes a stream info request that reached a replica
// which does not lead the bucket on to the one that does, and relays its
// answer: only the leader knows how far behind each replica is, and
// nats-server's stream leader answers these requests too. It reports
// whether the request was answered; if not (no live leader elsewhere, it
// did not answer, or it answered that it cannot), the caller answers it
// here with what this node knows.
func (s *Server) infoFromLeader(m *natsserver.Msg, b *node.Bucket) bool {
	if m.Reply == "" {
		return false
	}
	lead := b.Leader()
	if lead == 0 || lead == s.node.NodeID() {
		return false
	}
	h := natsHeader(m.Header)
	if h.Get(passedOnHeader) != "" {
		return false
	}
	replicas, _, _ := s.node.Locate(b.Name())
	i := -1
	for k, r := range replicas {
		if r.ID == lead && r.Alive && r.ClientAddr != "" {
			i = k
		}
	}
	if i < 0 {
		return false
	}
	pc, err := s.fwd.peer(replicas[i])
	if err != nil {
		return false
	}
	if h == nil {
		h = nats.Header{}
	}
	h.Set(passedOnHeader, s.node.Name())
	err = s.fwd.request(pc, &nats.Msg{Subject: m.Subject, Header: h, Data: m.Data}, m.Reply, false, true)
	if err != nil && !errors.Is(err, errReplicaUnavailable) && !errors.Is(err, nats.ErrNoResponders) {
		s.lg.Debug("passing stream info on to the leader failed", "bucket", b.Name(), "err", err)
	}
	return err == nil
}
