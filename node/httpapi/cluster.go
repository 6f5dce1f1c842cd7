package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/cairnkv/cairn/node"
)

// healthz: GET /healthz, 200 while the process serves.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyJSON struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons,omitempty"`
}

// readyz: GET /readyz, 200 when the node can serve every bucket it holds,
// else 503 with the reasons.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadyTimeout)
	defer cancel()
	reasons := s.notReady(ctx)
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, readyJSON{Status: "not ready", Reasons: reasons})
		return
	}
	writeJSON(w, http.StatusOK, readyJSON{Status: "ready"})
}

// readyParallel bounds the bucket checks of one /readyz run at once.
const readyParallel = 8

// notReady lists why the node is not ready (none: ready).
//
// The meta group: node.New returns only once the meta group has a leader
// and has replayed its log, and node does not expose the meta leader
// afterwards, so that is left to ReadyCheck (the cluster layer).
//
// Every local bucket group must know a leader and must have applied
// everything committed before the check: a linearizable barrier
// (ReadIndex, then wait for apply), the same round a linearizable read
// makes, bounded by ReadyTimeout.
func (s *Server) notReady(ctx context.Context) []string {
	var reasons []string
	if s.isClosing() {
		reasons = append(reasons, "shutting down")
	}
	if s.opts.ReadyCheck != nil {
		if err := s.opts.ReadyCheck(); err != nil {
			reasons = append(reasons, errorList(err)...)
		}
	}
	infos, err := s.n.Buckets(ctx)
	if err != nil {
		return append(reasons, fmt.Sprintf("listing buckets: %v", err))
	}
	bucketReasons := make([]string, len(infos))
	var todo []int // buckets with a leader: check they are caught up
	for i, bi := range infos {
		if bi.Leader == 0 {
			bucketReasons[i] = fmt.Sprintf("bucket %s (group %d): no leader known", bi.Config.Name, bi.Group)
			continue
		}
		todo = append(todo, i)
	}
	// A few workers; each writes only the slots of the buckets it checks.
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(readyParallel, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				bi := infos[i]
				b, err := s.n.Bucket(bi.Config.Name)
				if err == nil {
					_, err = b.Info(ctx) // linearizable barrier
				}
				if err != nil && !errors.Is(err, node.ErrBucketNotFound) { // deleted meanwhile: fine
					bucketReasons[i] = fmt.Sprintf("bucket %s (group %d): not caught up: %v", bi.Config.Name, bi.Group, err)
				}
			}
		}()
	}
	for _, i := range todo {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, r := range bucketReasons {
		if r != "" {
			reasons = append(reasons, r)
		}
	}
	return reasons
}

// errorList splits an errors.Join into its parts.
func errorList(err error) []string {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		var out []string
		for _, e := range j.Unwrap() {
			if e != nil {
				out = append(out, errorList(e)...)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return []string{err.Error()}
}

type memberJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Self       bool   `json:"self"`
	ClientAddr string `json:"client_addr"`
	HTTPAddr   string `json:"http_addr"`
	PeerAddr   string `json:"peer_addr"`
	GossipAddr string `json:"gossip_addr"`
}

type groupJSON struct {
	Group    uint64   `json:"group"`
	Kind     string   `json:"kind"`
	Bucket   string   `json:"bucket,omitempty"`
	Leader   string   `json:"leader"`
	Replicas []string `json:"replicas"`
	Applied  uint64   `json:"applied"`
	LastRev  uint64   `json:"last_revision"`
}

type clusterJSON struct {
	Node    memberJSON        `json:"node"`
	Members []memberJSON      `json:"members"`
	Groups  []groupJSON       `json:"groups"`
	Leaders map[string]string `json:"leaders"` // bucket → leader node ID
}

// cluster: GET /v1/cluster. With Options.ClusterInfo, its value; without,
// this node's view: itself as the only member and its bucket groups.
func (s *Server) cluster(w http.ResponseWriter, r *http.Request) {
	if s.opts.ClusterInfo != nil {
		writeJSON(w, http.StatusOK, s.opts.ClusterInfo())
		return
	}
	cfg := s.n.Config()
	self := memberJSON{
		ID: nodeID(s.n.NodeID()), Name: s.n.Name(), Self: true,
		ClientAddr: cfg.ClientAddr, HTTPAddr: cfg.HTTPAddr, PeerAddr: cfg.PeerAddr, GossipAddr: cfg.GossipAddr,
	}
	if a := s.Addr(); a != nil {
		self.HTTPAddr = a.String()
	}
	infos, err := s.n.Buckets(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := clusterJSON{Node: self, Members: []memberJSON{self}, Groups: []groupJSON{}, Leaders: map[string]string{}}
	for _, bi := range infos {
		out.Groups = append(out.Groups, groupJSON{
			Group: bi.Group, Kind: "bucket", Bucket: bi.Config.Name, Leader: nodeID(bi.Leader),
			// A node without peers holds every replica itself.
			Replicas: []string{self.ID},
			Applied:  bi.State.Applied, LastRev: bi.State.Last,
		})
		out.Leaders[bi.Config.Name] = nodeID(bi.Leader)
	}
	writeJSON(w, http.StatusOK, out)
}
