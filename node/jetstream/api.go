package jetstream

import (
	"encoding/json"
	"strings"

	"github.com/cairnkv/cairn/node/natsserver"
)

const apiPrefix = "$JS.API."

// handleAPI dispatches a $JS.API request. Requests that wait for
// replication run on their own goroutine so one slow request does not hold
// up the others.
func (s *Server) handleAPI(m *natsserver.Msg) {
	s.api(m, false)
}

// api serves a $JS.API request; refreshed is true when the bucket it
// names was unknown here and the registry has since been refreshed.
func (s *Server) api(m *natsserver.Msg, refreshed bool) {
	rest, ok := strings.CutPrefix(m.Subject, apiPrefix)
	if !ok {
		return
	}
	if !refreshed {
		s.apiTotal.Add(1)
	}
	toks := strings.Split(rest, ".")
	if s.refuseDraining(m, false, len(toks) >= 2 && toks[0] == "DIRECT" && toks[1] == "GET") {
		return
	}
	if !refreshed && s.refreshFirst(apiBucket(toks), func() { s.api(m, true) }) {
		return
	}
	if s.routeAPI(m, toks) {
		return
	}
	switch {
	case rest == "INFO":
		s.goFn(func() { s.accountInfo(m) })
	case toks[0] == "STREAM" && len(toks) >= 2:
		s.goFn(func() { s.streamAPI(m, toks[1:]) })
	case toks[0] == "DIRECT" && len(toks) >= 3 && toks[1] == "GET":
		s.directGet(m, toks[2], strings.Join(toks[3:], "."))
	case toks[0] == "CONSUMER" && len(toks) >= 2:
		s.goFn(func() { s.consumerAPI(m, toks[1:]) })
	default:
		s.noResponders(m)
	}
}

// apiBucket is the bucket a $JS.API request (its subject's tokens after
// the prefix) is about, or "".
func apiBucket(toks []string) string {
	if len(toks) < 3 {
		return ""
	}
	var stream string
	switch {
	case toks[0] == "STREAM" && toks[1] == "MSG" && len(toks) >= 4:
		stream = toks[3]
	case toks[0] == "STREAM" && toks[1] != "CREATE" && toks[1] != "NAMES" && toks[1] != "LIST":
		stream = toks[2]
	case toks[0] == "DIRECT" && toks[1] == "GET", toks[0] == "CONSUMER":
		stream = toks[2]
	}
	if bname, ok := strings.CutPrefix(stream, streamPrefix); ok {
		return bname
	}
	return "" // not a KV stream: nothing to refresh
}

// refreshFirst, when this node's registry does not know bucket, asks
// the meta group on a goroutine of its own and then calls again (which
// must not refresh a second time), so that a bucket created a moment ago
// through another node is found here too; true means again will be
// called. Known buckets, and requests naming none, go on at once.
func (s *Server) refreshFirst(bucket string, again func()) bool {
	if bucket == "" {
		return false
	}
	if s.node.Registered(bucket) {
		return false
	}
	s.goFn(func() {
		ctx := s.requestContext()
		s.node.Refresh(ctx, bucket)
		again()
	})
	return true
}

// routeAPI forwards a request about a bucket this node holds no replica
// of to a node that holds one; false means it is answered here.
func (s *Server) routeAPI(m *natsserver.Msg, toks []string) bool {
	var stream string
	// readOnly: a request that changes nothing, so a replica that cannot
	// answer it now can be passed over for the next.
	consumerCreate, batch, readOnly := false, false, false
	switch {
	case len(toks) >= 3 && toks[0] == "STREAM":
		switch toks[1] {
		case "INFO", "UPDATE", "PURGE":
			stream, readOnly = toks[2], toks[1] == "INFO"
		case "MSG":
			if len(toks) >= 4 {
				stream, readOnly = toks[3], toks[2] == "GET"
			}
		}
	case len(toks) >= 3 && toks[0] == "DIRECT" && toks[1] == "GET":
		stream, readOnly = toks[2], true
		batch = len(toks) == 3 && (strings.Contains(string(m.Data), `"batch"`) || strings.Contains(string(m.Data), `"multi_last"`))
	case len(toks) >= 3 && toks[0] == "CONSUMER":
		switch toks[1] {
		case "CREATE", "DURABLE":
			stream, consumerCreate = toks[2], true
		case "DELETE", "INFO", "NAMES", "LIST":
			stream, readOnly = toks[2], toks[1] != "DELETE"
		}
	}
	bname, ok := strings.CutPrefix(stream, streamPrefix)
	if !ok || bname == "" {
		return false
	}
	replicas, remote := s.fwd.target(bname)
	if !remote {
		return false
	}
	fwd := s.forwarderFor(m)
	if fwd == nil {
		s.refuseAnotherHop(m, bname)
		return true
	}
	s.goFn(func() {
		if consumerCreate {
			fwd.forwardConsumerCreate(m, replicas)
		} else {
			fwd.forward(m, replicas, batch, readOnly)
		}
	})
	return true
}

// noResponders answers an API subject cairn does not implement the way
// nats-server answers a subject nobody serves: a 503 status, which
// clients report as "no responders" at once instead of timing out.
func (s *Server) noResponders(m *natsserver.Msg) {
	if m.Reply == "" {
		return
	}
	s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: []byte("NATS/1.0 503\r\nNats-Subject: " + m.Subject + "\r\n\r\n")})
}

func (s *Server) replyErr(m *natsserver.Msg, typ string, e *APIError) {
	s.apiErrors.Add(1)
	s.reply(m, struct {
		Type  string    `json:"type"`
		Error *APIError `json:"error"`
	}{typ, e})
}

// decode parses an optional JSON body; false means an error was sent.
func (s *Server) decode(m *natsserver.Msg, typ string, v any) bool {
	if len(strings.TrimSpace(string(m.Data))) == 0 {
		return true
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		s.replyErr(m, typ, &APIError{Code: 400, ErrCode: 10025, Description: "invalid JSON: " + err.Error()})
		return false
	}
	return true
}

type accountInfo struct {
	Type            string         `json:"type"`
	Memory          uint64         `json:"memory"`
	Storage         uint64         `json:"storage"`
	ReservedMemory  uint64         `json:"reserved_memory"`
	ReservedStorage uint64         `json:"reserved_storage"`
	Streams         int            `json:"streams"`
	Consumers       int            `json:"consumers"`
	Limits          map[string]any `json:"limits"`
	API             struct {
		Level  int    `json:"level"`
		Total  uint64 `json:"total"`
		Errors uint64 `json:"errors"`
	} `json:"api"`
}

func (s *Server) accountInfo(m *natsserver.Msg) {
	ctx := s.requestContext()
	infos, err := s.node.Buckets(ctx)
	if err != nil {
		s.replyErr(m, typeAccountInfo, apiErr(err))
		return
	}
	ai := accountInfo{Type: typeAccountInfo, Streams: len(infos), Consumers: s.consumerCount("")}
	for _, bi := range infos {
		if bi.Config.Storage == "memory" {
			ai.Memory += bi.State.Bytes
		} else {
			ai.Storage += bi.State.Bytes
		}
	}
	ai.Limits = map[string]any{
		"max_memory": -1, "max_storage": -1, "max_streams": -1, "max_consumers": -1,
		"max_ack_pending": -1, "memory_max_stream_bytes": -1, "storage_max_stream_bytes": -1,
		"max_bytes_required": false,
	}
	ai.API.Level = APILevel
	ai.API.Total = s.apiTotal.Load()
	ai.API.Errors = s.apiErrors.Load()
	s.reply(m, ai)
}
