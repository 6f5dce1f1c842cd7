package jetstream

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsserver"
)

type consumerCreateRequest struct {
	Stream string         `json:"stream_name"`
	Config ConsumerConfig `json:"config"`
	Action string         `json:"action,omitempty"`
}

var errConsumerNotFound = &APIError{Code: 404, ErrCode: 10014, Description: "consumer not found"}

func (s *Server) consumerAPI(m *natsserver.Msg, toks []string) {
	switch {
	case toks[0] == "CREATE" && len(toks) >= 2:
		name, filter := "", ""
		if len(toks) >= 3 {
			name = toks[2]
		}
		if len(toks) >= 4 {
			filter = strings.Join(toks[3:], ".")
		}
		s.consumerCreate(m, toks[1], name, filter, len(toks) >= 3)
	case toks[0] == "DELETE" && len(toks) == 3:
		s.consumerDelete(m, toks[1], toks[2])
	case toks[0] == "INFO" && len(toks) == 3:
		s.consumerInfo(m, toks[1], toks[2])
	case (toks[0] == "NAMES" || toks[0] == "LIST") && len(toks) == 2:
		s.consumerNames(m, toks[1], toks[0] == "LIST")
	default:
		s.noResponders(m)
	}
}

func policyOf(p string) (node.DeliverPolicy, bool) {
	switch p {
	case "", "all":
		return node.DeliverAll, true
	case "last":
		return node.DeliverLast, true
	case "new":
		return node.DeliverNew, true
	case "by_start_sequence":
		return node.DeliverByStartSeq, true
	case "by_start_time":
		return node.DeliverByStartTime, true
	case "last_per_subject":
		return node.DeliverLastPerKey, true
	}
	return 0, false
}

func badConsumer(code int, desc string) *APIError {
	return &APIError{Code: 400, ErrCode: code, Description: desc}
}

func (s *Server) consumerCreate(m *natsserver.Msg, stream, name, subjFilter string, named bool) {
	var req consumerCreateRequest
	if len(m.Data) == 0 {
		s.replyErr(m, typeConsumerCreate, &APIError{Code: 400, ErrCode: 10025, Description: "request body is required"})
		return
	}
	if !s.decode(m, typeConsumerCreate, &req) {
		return
	}
	cfg := req.Config
	if req.Stream != stream {
		s.replyErr(m, typeConsumerCreate, badConsumer(10056, "stream name in subject does not match request"))
		return
	}
	if named {
		if cfg.Durable != "" && cfg.Durable != name {
			s.replyErr(m, typeConsumerCreate, badConsumer(10017, "consumer name in subject does not match durable name in request"))
			return
		}
		if cfg.Name != "" && cfg.Name != name {
			s.replyErr(m, typeConsumerCreate, badConsumer(10131, "consumer name in subject does not match name in request"))
			return
		}
		cfg.Name = name
	} else {
		if cfg.Durable != "" {
			s.replyErr(m, typeConsumerCreate, badConsumer(10020, "consumer expected to be ephemeral but a durable name was set in request"))
			return
		}
		if cfg.Name == "" {
			cfg.Name = randToken(8)
		}
	}
	if strings.ContainsAny(cfg.Name, `.*>/\ `) {
		s.replyErr(m, typeConsumerCreate, badConsumer(10127, "consumer name can not contain path separators or wildcards"))
		return
	}
	if subjFilter != "" {
		if len(cfg.FilterSubjects) > 0 {
			s.replyErr(m, typeConsumerCreate, badConsumer(10137, "consumer with multiple subject filters cannot use subject based API"))
			return
		}
		if cfg.FilterSubject != subjFilter {
			s.replyErr(m, typeConsumerCreate, badConsumer(10131, "consumer create request did not match filtered subject from create subject"))
			return
		}
	}
	if cfg.FilterSubject != "" && len(cfg.FilterSubjects) > 0 {
		s.replyErr(m, typeConsumerCreate, badConsumer(10136, "consumer config can not have both filter subject and multiple filter subjects"))
		return
	}
	if cfg.DeliverSubject == "" {
		s.replyErr(m, typeConsumerCreate, badConsumer(10003, "cairn serves push consumers only (pull consumers are not supported)"))
		return
	}
	if cfg.AckPolicy == "" {
		cfg.AckPolicy = "none"
	}
	if cfg.AckPolicy != "none" {
		s.replyErr(m, typeConsumerCreate, badConsumer(10003, "cairn serves ack_policy none consumers only (as KV watches use)"))
		return
	}
	policy, ok := policyOf(cfg.DeliverPolicy)
	if !ok {
		s.replyErr(m, typeConsumerCreate, badConsumer(10003, "invalid deliver policy "+cfg.DeliverPolicy))
		return
	}
	b, aerr := s.bucketFor(stream)
	if aerr != nil {
		s.replyErr(m, typeConsumerCreate, aerr)
		return
	}
	prefix := "$KV." + b.Name() + "."
	filters := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		filters = []string{cfg.FilterSubject}
	}
	var keyFilters []string
	for _, f := range filters {
		if f == "" {
			s.replyErr(m, typeConsumerCreate, badConsumer(10139, "consumer filter in FilterSubjects cannot be empty"))
			return
		}
		kf, ok := keyFilter(prefix, f)
		if !ok {
			s.replyErr(m, typeConsumerCreate, badConsumer(10093, "consumer filter subject is not a valid subset of the interest subjects"))
			return
		}
		keyFilters = append(keyFilters, kf)
	}
	if len(keyFilters) == 1 && keyFilters[0] == ">" {
		keyFilters = nil
	}
	cc := node.CursorConfig{Policy: policy, StartSeq: cfg.OptStartSeq, Filters: keyFilters}
	if cfg.OptStartTime != nil {
		cc.StartTime = *cfg.OptStartTime
	}
	if cfg.InactiveThreshold == 0 && cfg.Durable == "" {
		cfg.InactiveThreshold = int64(defaultInactiveThreshold)
	}
	if cfg.ReplayPolicy == "" {
		cfg.ReplayPolicy = "instant"
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = -1
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	ctx := s.requestContext()
	cur, err := b.OpenCursor(ctx, cc)
	if err != nil {
		s.replyErr(m, typeConsumerCreate, apiErr(err))
		return
	}
	c := &consumer{s: s, stream: stream, name: cfg.Name, b: b, cfg: cfg, created: time.Now().UTC(),
		cur: cur, prefix: prefix, fcWake: make(chan struct{}, 1)}
	c.sseq = cur.LastBefore
	c.pending = cur.InitialPending
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	s.mu.Lock()
	if old, ok := s.consumers[c.key()]; ok {
		s.mu.Unlock()
		cur.Close()
		c.cancel()
		if req.Action == "create" {
			s.replyErr(m, typeConsumerCreate, badConsumer(10148, "consumer already exists"))
			return
		}
		s.reply(m, struct {
			Type string `json:"type"`
			ConsumerInfo
		}{typeConsumerCreate, old.info()})
		return
	}
	s.consumers[c.key()] = c
	s.mu.Unlock()
	info := c.info()
	s.reply(m, struct {
		Type string `json:"type"`
		ConsumerInfo
	}{typeConsumerCreate, info})
	if !s.goLong(c.run) {
		cur.Close() // the server is closing: the consumer never runs
	}
}

func (s *Server) findConsumer(stream, name string) *consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consumers[stream+"."+name]
}

func (s *Server) consumerDelete(m *natsserver.Msg, stream, name string) {
	if _, aerr := s.bucketFor(stream); aerr != nil {
		s.replyErr(m, typeConsumerDelete, aerr)
		return
	}
	c := s.findConsumer(stream, name)
	if c == nil {
		s.replyErr(m, typeConsumerDelete, errConsumerNotFound)
		return
	}
	s.removeConsumer(c)
	s.reply(m, struct {
		Type    string `json:"type"`
		Success bool   `json:"success"`
	}{typeConsumerDelete, true})
}

func (s *Server) consumerInfo(m *natsserver.Msg, stream, name string) {
	if _, aerr := s.bucketFor(stream); aerr != nil {
		s.replyErr(m, typeConsumerInfo, aerr)
		return
	}
	c := s.findConsumer(stream, name)
	if c == nil {
		s.replyErr(m, typeConsumerInfo, errConsumerNotFound)
		return
	}
	s.reply(m, struct {
		Type string `json:"type"`
		ConsumerInfo
	}{typeConsumerInfo, c.info()})
}

func (s *Server) consumerNames(m *natsserver.Msg, stream string, list bool) {
	typ := typeConsumerNames
	if list {
		typ = typeConsumerList
	}
	if _, aerr := s.bucketFor(stream); aerr != nil {
		s.replyErr(m, typ, aerr)
		return
	}
	s.mu.Lock()
	var cs []*consumer
	for _, c := range s.consumers {
		if c.stream == stream {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	if list {
		infos := make([]ConsumerInfo, len(cs))
		for i, c := range cs {
			infos[i] = c.info()
		}
		s.reply(m, struct {
			Type      string         `json:"type"`
			Total     int            `json:"total"`
			Offset    int            `json:"offset"`
			Limit     int            `json:"limit"`
			Consumers []ConsumerInfo `json:"consumers"`
		}{typ, len(cs), 0, 1024, infos})
		return
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	s.reply(m, struct {
		Type      string   `json:"type"`
		Total     int      `json:"total"`
		Offset    int      `json:"offset"`
		Limit     int      `json:"limit"`
		Consumers []string `json:"consumers"`
	}{typ, len(cs), 0, 1024, names})
}
