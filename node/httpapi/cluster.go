package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
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

// readyz: GET /readyz, 200 when the node is part of a working cluster and
// can serve every bucket it holds, else 503 with the reasons.
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
// The node must be joined: its meta group knows a leader (a node cut off
// from the quorum, or still joining, knows none) and it has not been
// removed from the cluster. Every bucket group with a replica here must
// know a leader and must have applied everything committed before the
// check: a linearizable barrier (ReadIndex, then wait for apply), the
// same round a linearizable read makes, bounded by ReadyTimeout. Buckets
// held only by other nodes are theirs to report.
func (s *Server) notReady(ctx context.Context) []string {
	var reasons []string
	if s.isClosing() || s.stopping.Load() {
		reasons = append(reasons, "shutting down")
	}
	if s.opts.ReadyCheck != nil {
		if err := s.opts.ReadyCheck(); err != nil {
			reasons = append(reasons, errorList(err)...)
		}
	}
	if low, free, reserve := s.n.DiskSpace(); low {
		reasons = append(reasons, fmt.Sprintf("data disk below its free-space reserve (%d bytes free, min-free-disk %d): writes are refused", free, reserve))
	}
	st := s.n.Status()
	reasons = append(reasons, membershipReasons(s.n.MetaLeader(), st)...)
	// The listing asks a replica elsewhere for each bucket not held here;
	// it gets half the time, so that slow peers cannot use up the time
	// the local checks need (a bucket whose peer does not answer in time
	// is still listed, from the registry).
	listCtx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout/2)
	infos, err := s.n.Buckets(listCtx)
	cancel()
	if err != nil {
		return append(reasons, fmt.Sprintf("listing buckets: %v", err))
	}
	for _, c := range s.checkLocal(ctx, infos, st.Clustered) {
		if c.reason != "" {
			reasons = append(reasons, c.reason)
		}
	}
	return reasons
}

// membershipReasons says why the node is not a working member of its
// cluster (none: it is).
func membershipReasons(metaLeader uint64, st node.ClusterStatus) []string {
	var reasons []string
	if metaLeader == 0 {
		reasons = append(reasons, "not joined: no meta leader known (this node is still joining, or cannot reach a quorum of the meta group)")
	}
	for _, ns := range st.Nodes {
		if ns.Self && ns.State == "removed" {
			reasons = append(reasons, "this node was removed from the cluster; wipe its data directory to add it again")
		}
	}
	return reasons
}

// groupCheck is what checkLocal found for one bucket.
type groupCheck struct {
	local bool
	// lag is how many log entries the local replica applied while it
	// caught up for the check (nil: not measured).
	lag *uint64
	// reason says why the local replica is not ready ("": it is).
	reason string
}

// checkLocal checks, in parallel, that each bucket of infos held here
// knows a leader and catches up with a linearizable barrier. The result
// is indexed like infos; buckets held elsewhere are left unchecked. A
// node that is not clustered holds every bucket.
func (s *Server) checkLocal(ctx context.Context, infos []node.BucketInfo, clustered bool) []groupCheck {
	self := s.n.NodeID()
	out := make([]groupCheck, len(infos))
	var todo []int // local buckets with a leader: check they are caught up
	for i, bi := range infos {
		if !holds(bi, self, clustered) {
			continue
		}
		out[i].local = true
		if bi.Leader == 0 {
			out[i].reason = fmt.Sprintf("bucket %s (group %d): no leader known", bi.Config.Name, bi.Group)
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
				out[i] = s.checkGroup(ctx, infos[i])
			}
		}()
	}
	for _, i := range todo {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

// checkGroup runs the barrier on one local bucket; before is its info
// from the listing.
func (s *Server) checkGroup(ctx context.Context, before node.BucketInfo) groupCheck {
	c := groupCheck{local: true}
	b, err := s.n.Bucket(before.Config.Name)
	var after node.BucketInfo
	if err == nil {
		after, err = b.Info(ctx) // linearizable barrier
	}
	switch {
	case errors.Is(err, node.ErrBucketNotFound): // deleted or moved away meanwhile: fine
	case err != nil:
		c.reason = fmt.Sprintf("bucket %s (group %d): not caught up: %v", before.Config.Name, before.Group, err)
	default:
		lag := after.State.Applied - min(after.State.Applied, before.State.Applied)
		c.lag = &lag
	}
	return c
}

// holds reports whether bi has a replica on node self. A node that runs
// alone holds every bucket.
func holds(bi node.BucketInfo, self uint64, clustered bool) bool {
	return !clustered || slices.Contains(bi.Replicas, self)
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
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Self       bool              `json:"self"`
	ClientAddr string            `json:"client_addr"`
	HTTPAddr   string            `json:"http_addr"`
	PeerAddr   string            `json:"peer_addr"`
	GossipAddr string            `json:"gossip_addr,omitempty"` // known for this node only
	Tags       map[string]string `json:"tags,omitempty"`
	// State is the node's state in gossip: alive, suspect, failed, left,
	// unknown, or removed (from the cluster, by an operator).
	State string `json:"state"`
	// MetaRole is leader, voter, learner or none (in the meta group).
	MetaRole string `json:"meta_role"`
	// Replicas counts the bucket replicas placed on the node; Preferred
	// the buckets whose preferred leader it is.
	Replicas  int `json:"replicas"`
	Preferred int `json:"leaders_preferred"`
}

type groupJSON struct {
	Group  uint64 `json:"group"`
	Kind   string `json:"kind"`
	Bucket string `json:"bucket,omitempty"`
	Leader string `json:"leader"` // "" when no leader is known
	// Replicas are the nodes holding the group, preferred leader first.
	Replicas []string `json:"replicas"`
	// Applied and LastRev are the state of the replica the information
	// came from: this node's when it holds one (Local), else another's.
	Applied uint64 `json:"applied"`
	LastRev uint64 `json:"last_revision"`
	Local   bool   `json:"local"`
	// Lag is how many log entries this node's replica applied while it
	// caught up for the request (a linearizable barrier): 0 for a replica
	// that keeps up with a quiet group. Absent for groups not held here.
	Lag *uint64 `json:"lag,omitempty"`
	// NotReady says why this node's replica is not ready (as /readyz).
	NotReady string `json:"not_ready,omitempty"`
}

type clusterJSON struct {
	Self       string            `json:"self"`        // this node's ID
	MetaLeader string            `json:"meta_leader"` // "" when unknown
	Clustered  bool              `json:"clustered"`   // false for a node that runs alone
	Node       memberJSON        `json:"node"`
	Members    []memberJSON      `json:"members"`
	Groups     []groupJSON       `json:"groups"`
	Leaders    map[string]string `json:"leaders"` // bucket → leader node ID
}

// cluster: GET /v1/cluster. With Options.ClusterInfo, its value; without,
// the cluster as this node sees it: every registered node with its state
// in gossip and role in the meta group, the meta leader, and every
// bucket's group with its replicas and leader. Groups held here are
// checked as /readyz checks them, which gives their lag.
func (s *Server) cluster(w http.ResponseWriter, r *http.Request) {
	if s.opts.ClusterInfo != nil {
		writeJSON(w, http.StatusOK, s.opts.ClusterInfo())
		return
	}
	st := s.n.Status()
	infos, err := s.n.Buckets(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := clusterJSON{Self: st.Self, MetaLeader: st.MetaLeader, Clustered: st.Clustered,
		Members: []memberJSON{}, Groups: []groupJSON{}, Leaders: map[string]string{}}
	for _, ns := range st.Nodes {
		m := memberJSON{ID: ns.ID, Name: ns.Name, Self: ns.Self, ClientAddr: ns.ClientAddr, HTTPAddr: ns.HTTPAddr,
			PeerAddr: ns.PeerAddr, Tags: ns.Tags, State: ns.State, MetaRole: ns.MetaRole,
			Replicas: ns.Replicas, Preferred: ns.Leaders}
		if ns.Self {
			m = s.selfMember(m)
			out.Node = m
		}
		out.Members = append(out.Members, m)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadyTimeout)
	defer cancel()
	checks := s.checkLocal(ctx, infos, st.Clustered)
	for i, bi := range infos {
		g := groupJSON{
			Group: bi.Group, Kind: "bucket", Bucket: bi.Config.Name, Leader: nodeID(bi.Leader),
			Replicas: []string{}, Applied: bi.State.Applied, LastRev: bi.State.Last,
			Local: checks[i].local, Lag: checks[i].lag, NotReady: checks[i].reason,
		}
		for _, id := range bi.Replicas {
			g.Replicas = append(g.Replicas, nodeID(id))
		}
		if len(g.Replicas) == 0 && !st.Clustered {
			g.Replicas = []string{out.Self}
		}
		out.Groups = append(out.Groups, g)
		out.Leaders[bi.Config.Name] = nodeID(bi.Leader)
	}
	writeJSON(w, http.StatusOK, out)
}

// selfMember completes this node's entry where the cluster does not
// know it yet (a node running alone, or one not yet registered) with
// what it knows first hand. Addresses the cluster knows are what the
// node advertises, which is what peers and clients use: they stay.
func (s *Server) selfMember(m memberJSON) memberJSON {
	cfg := s.n.Config()
	if m.ID == "" {
		m.ID = nodeID(s.n.NodeID())
	}
	if m.Name == "" {
		m.Name = s.n.Name()
	}
	if a := s.Addr(); a != nil && m.HTTPAddr == "" {
		m.HTTPAddr = a.String()
	}
	if m.ClientAddr == "" {
		m.ClientAddr = cfg.ClientAddr
	}
	if m.PeerAddr == "" {
		m.PeerAddr = cfg.PeerAddr
	}
	if m.GossipAddr == "" {
		m.GossipAddr = cfg.GossipAddr
	}
	return m
}

// Operator actions. Node arguments are a node's ID (16 hex digits, as
// /v1/cluster shows) or its name.

// removeNode: POST /v1/cluster/nodes/{node}/remove takes a node out of
// the cluster for good; its replicas are re-created on other nodes.
func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) {
	id, err := s.n.ParseNodeID(r.PathValue("node"))
	if err != nil {
		writeError(w, &apiError{Code: http.StatusNotFound, ErrCode: jsBadRequest, Description: err.Error()})
		return
	}
	if err := s.n.RemoveNode(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Removed string `json:"removed"`
		Name    string `json:"name"`
	}{nodeID(id), s.nodeName(id)})
}

// stepDown: POST /v1/cluster/step-down makes the meta leader hand its
// leadership to another voter. Any node accepts it: one that does not
// lead forwards it to the leader.
func (s *Server) stepDown(w http.ResponseWriter, r *http.Request) {
	prev := s.n.MetaLeader()
	if prev != 0 && prev != s.n.NodeID() && r.Header.Get(headerForwarded) == "" {
		s.forward(w, r, "the meta leader", []node.Replica{s.member(prev)})
		return
	}
	if err := s.n.StepDown(r.Context()); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Previous   string `json:"previous_leader"`
		MetaLeader string `json:"meta_leader"`
	}{nodeID(prev), nodeID(s.n.MetaLeader())})
}

// moveRequest is the body of POST /v1/buckets/{name}/move-replica.
type moveRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// moveReplica: POST /v1/buckets/{name}/move-replica {"from":N,"to":M}.
// The move runs in the background (the new replica is added, caught up
// and promoted before the old one goes): the answer is 202 once the
// cluster has recorded it.
func (s *Server) moveReplica(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := node.ValidateBucketName(name); err != nil {
		writeError(w, err)
		return
	}
	var req moveRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		writeError(w, err)
		return
	}
	if req.From == "" || req.To == "" {
		writeError(w, badRequest(`move-replica needs "from" and "to" (node IDs or names)`))
		return
	}
	from, err := s.n.ParseNodeID(req.From)
	if err != nil {
		writeError(w, err)
		return
	}
	to, err := s.n.ParseNodeID(req.To)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.n.MoveReplica(r.Context(), name, from, to); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, struct {
		Bucket string `json:"bucket"`
		From   string `json:"from"`
		To     string `json:"to"`
		Status string `json:"status"`
	}{name, nodeID(from), nodeID(to), "moving"})
}

// transferRequest is the body of POST /v1/buckets/{name}/transfer-leader.
type transferRequest struct {
	To string `json:"to"`
}

// transferLeader: POST /v1/buckets/{name}/transfer-leader {"to":N} moves
// the bucket's leadership to node N and makes it the preferred leader;
// without a body (or "to"), to any other caught-up replica.
func (s *Server) transferLeader(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := node.ValidateBucketName(name); err != nil {
		writeError(w, err)
		return
	}
	var req transferRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		writeError(w, err)
		return
	}
	var to uint64
	if req.To != "" {
		var err error
		if to, err = s.n.ParseNodeID(req.To); err != nil {
			writeError(w, err)
			return
		}
	}
	if err := s.n.TransferLeader(r.Context(), name, to); err != nil {
		writeError(w, err)
		return
	}
	out := struct {
		Bucket string `json:"bucket"`
		Leader string `json:"leader"` // as known right after the transfer
	}{Bucket: name, Leader: nodeID(to)}
	if bi, err := s.n.BucketInfo(r.Context(), name); err == nil && bi.Leader != 0 {
		out.Leader = nodeID(bi.Leader)
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeBody reads a JSON object into v: unknown fields and trailing data
// are errors; an empty body is one unless required is false.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, required bool) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return badRequest("request body: a JSON object is required")
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", jsonErrText(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("request body: trailing data after the JSON object")
	}
	return nil
}

// member returns a registered node with its addresses as this node knows
// them.
func (s *Server) member(id uint64) node.Replica {
	r := node.Replica{ID: id}
	for _, ns := range s.n.Status().Nodes {
		if ns.ID == nodeID(id) {
			r.Name, r.ClientAddr, r.HTTPAddr = ns.Name, ns.ClientAddr, ns.HTTPAddr
			r.Alive = ns.State == "alive" || ns.State == "suspect"
		}
	}
	return r
}

func (s *Server) nodeName(id uint64) string { return s.member(id).Name }
