package jetstream

import (
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsserver"
	"github.com/cairnkv/cairn/storage/bucket"
)

var errStreamNotFound = &APIError{Code: 404, ErrCode: 10059, Description: "stream not found"}

func (s *Server) streamAPI(m *natsserver.Msg, toks []string) {
	op := toks[0]
	name := ""
	if len(toks) >= 2 {
		name = strings.Join(toks[1:], ".")
	}
	switch {
	case op == "CREATE" && name != "":
		s.streamCreate(m, name, false)
	case op == "UPDATE" && name != "":
		s.streamCreate(m, name, true)
	case op == "INFO" && name != "":
		s.streamInfoAPI(m, name)
	case op == "DELETE" && name != "":
		s.streamDelete(m, name)
	case op == "NAMES":
		s.streamNames(m, false)
	case op == "LIST":
		s.streamNames(m, true)
	case op == "PURGE" && name != "":
		s.streamPurge(m, name)
	case op == "MSG" && len(toks) >= 3 && toks[1] == "GET":
		s.msgGet(m, strings.Join(toks[2:], "."))
	case op == "MSG" && len(toks) >= 3 && toks[1] == "DELETE":
		s.replyErr(m, typeStreamMsgDel, &APIError{Code: 500, ErrCode: 10057, Description: "message delete not permitted"})
	default:
		s.noResponders(m)
	}
}

type streamCreateResponse struct {
	Type string `json:"type"`
	StreamInfo
	DidCreate bool `json:"did_create,omitempty"`
}

func (s *Server) streamCreate(m *natsserver.Msg, name string, update bool) {
	typ := typeStreamCreate
	if update {
		typ = typeStreamUpdate
	}
	var sc StreamConfig
	if len(m.Data) == 0 {
		s.replyErr(m, typ, &APIError{Code: 400, ErrCode: 10025, Description: "request body is required"})
		return
	}
	if !s.decode(m, typ, &sc) {
		return
	}
	if sc.Name == "" {
		sc.Name = name
	}
	if sc.Name != name {
		s.replyErr(m, typ, &APIError{Code: 400, ErrCode: 10056, Description: "stream name in subject does not match request"})
		return
	}
	bc, aerr := toBucketConfig(&sc)
	if aerr != nil {
		s.replyErr(m, typ, aerr)
		return
	}
	ctx := s.requestContext()
	var bi node.BucketInfo
	var err error
	existed := false
	if update {
		bi, err = s.node.UpdateBucket(ctx, bc)
	} else {
		_, gerr := s.node.Bucket(bc.Name)
		existed = gerr == nil
		bi, err = s.node.CreateBucket(ctx, bc)
	}
	if err != nil {
		s.replyErr(m, typ, apiErr(err))
		return
	}
	s.reply(m, streamCreateResponse{Type: typ, StreamInfo: s.streamInfo(bi), DidCreate: !update && !existed})
}

type streamInfoRequest struct {
	SubjectsFilter string `json:"subjects_filter,omitempty"`
	DeletedDetails bool   `json:"deleted_details,omitempty"`
	Offset         int    `json:"offset,omitempty"`
}

type streamInfoResponse struct {
	Type string `json:"type"`
	StreamInfo
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// subjectsPageLimit is how many subjects one STREAM.INFO page lists.
const subjectsPageLimit = 100000

func (s *Server) streamInfoAPI(m *natsserver.Msg, name string) {
	var req streamInfoRequest
	if !s.decode(m, typeStreamInfo, &req) {
		return
	}
	bname, ok := bucketOf(name)
	if !ok {
		s.replyErr(m, typeStreamInfo, errStreamNotFound)
		return
	}
	b, err := s.node.Bucket(bname)
	if err != nil {
		s.replyErr(m, typeStreamInfo, errStreamNotFound)
		return
	}
	if s.infoFromLeader(m, b) {
		return
	}
	ctx := s.requestContext()
	bi, err := b.Info(ctx)
	if err != nil {
		s.replyErr(m, typeStreamInfo, apiErr(err))
		return
	}
	resp := streamInfoResponse{Type: typeStreamInfo, StreamInfo: s.streamInfo(bi)}
	if req.SubjectsFilter != "" {
		subjects, err := s.subjectCounts(b, req.SubjectsFilter)
		if err != nil {
			s.replyErr(m, typeStreamInfo, apiErr(err))
			return
		}
		resp.Total = len(subjects)
		keys := make([]string, 0, len(subjects))
		for k := range subjects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		page := map[string]uint64{}
		lo, hi := pageBounds(req.Offset, len(keys), subjectsPageLimit)
		for _, k := range keys[lo:hi] {
			page[k] = subjects[k]
		}
		resp.Offset, resp.Limit = lo, subjectsPageLimit
		resp.State.Subjects = page
	}
	s.reply(m, resp)
}

// subjectCounts counts stored revisions per subject matching filter.
func (s *Server) subjectCounts(b *node.Bucket, filter string) (map[string]uint64, error) {
	prefix := "$KV." + b.Name() + "."
	kf, ok := keyFilter(prefix, filter)
	if !ok {
		return map[string]uint64{}, nil
	}
	ctx := s.requestContext()
	c, err := b.OpenCursor(ctx, node.CursorConfig{Policy: node.DeliverAll, Filters: []string{kf}, Stale: true})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := map[string]uint64{}
	for n := c.InitialPending; n > 0; n-- {
		msg, _, ok, err := c.TryNext()
		if err != nil || !ok {
			return out, err
		}
		out[prefix+msg.Key]++
	}
	return out, nil
}

// keyFilter turns a subject filter into a key filter for the bucket whose
// subjects start with prefix; false when the filter cannot match it.
func keyFilter(prefix, filter string) (string, bool) {
	if filter == ">" || filter == "" {
		return ">", true
	}
	ptoks := strings.Split(strings.TrimSuffix(prefix, "."), ".")
	ftoks := strings.Split(filter, ".")
	for i, pt := range ptoks {
		if i >= len(ftoks) {
			return "", false
		}
		switch ftoks[i] {
		case ">":
			return ">", true
		case "*", pt:
		default:
			return "", false
		}
	}
	rest := ftoks[len(ptoks):]
	if len(rest) == 0 {
		return "", false
	}
	return strings.Join(rest, "."), true
}

func (s *Server) streamDelete(m *natsserver.Msg, name string) {
	bname, ok := bucketOf(name)
	if !ok {
		s.replyErr(m, typeStreamDelete, errStreamNotFound)
		return
	}
	ctx := s.requestContext()
	if err := s.node.DeleteBucket(ctx, bname); err != nil {
		s.replyErr(m, typeStreamDelete, apiErr(err))
		return
	}
	s.dropConsumers(name)
	s.reply(m, struct {
		Type    string `json:"type"`
		Success bool   `json:"success"`
	}{typeStreamDelete, true})
}

type namesRequest struct {
	Offset  int    `json:"offset"`
	Subject string `json:"subject,omitempty"`
}

const (
	namesLimit = 1024
	listLimit  = 256
)

func (s *Server) streamNames(m *natsserver.Msg, list bool) {
	typ, limit := typeStreamNames, namesLimit
	if list {
		typ, limit = typeStreamList, listLimit
	}
	var req namesRequest
	if !s.decode(m, typ, &req) {
		return
	}
	ctx := s.requestContext()
	infos, err := s.node.Buckets(ctx)
	if err != nil {
		s.replyErr(m, typ, apiErr(err))
		return
	}
	var matched []node.BucketInfo
	for _, bi := range infos {
		if req.Subject == "" || subjectsOverlap(req.Subject, "$KV."+bi.Config.Name+".>") {
			matched = append(matched, bi)
		}
	}
	total := len(matched)
	lo, hi := pageBounds(req.Offset, total, limit)
	req.Offset = lo
	page := matched[lo:hi]
	if list {
		streams := make([]StreamInfo, len(page))
		for i, bi := range page {
			streams[i] = s.streamInfo(bi)
		}
		s.reply(m, struct {
			Type    string       `json:"type"`
			Total   int          `json:"total"`
			Offset  int          `json:"offset"`
			Limit   int          `json:"limit"`
			Streams []StreamInfo `json:"streams"`
		}{typ, total, req.Offset, limit, streams})
		return
	}
	names := make([]string, len(page))
	for i, bi := range page {
		names[i] = streamPrefix + bi.Config.Name
	}
	s.reply(m, struct {
		Type    string   `json:"type"`
		Total   int      `json:"total"`
		Offset  int      `json:"offset"`
		Limit   int      `json:"limit"`
		Streams []string `json:"streams"`
	}{typ, total, req.Offset, limit, names})
}

// subjectsOverlap reports whether some subject matches both a and b.
func subjectsOverlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(at) && i == len(bt):
			return true
		case i == len(at) || i == len(bt):
			return false
		case at[i] == ">" || bt[i] == ">":
			return true
		case at[i] == "*" || bt[i] == "*" || at[i] == bt[i]:
			continue
		default:
			return false
		}
	}
}

type purgeRequest struct {
	Filter string `json:"filter,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	Keep   uint64 `json:"keep,omitempty"`
}

func (s *Server) streamPurge(m *natsserver.Msg, name string) {
	var req purgeRequest
	if !s.decode(m, typeStreamPurge, &req) {
		return
	}
	b, aerr := s.bucketFor(name)
	if aerr != nil {
		s.replyErr(m, typeStreamPurge, aerr)
		return
	}
	pr := bucket.PurgeRequest{Keep: req.Keep, Seq: req.Seq}
	if req.Filter != "" {
		kf, ok := keyFilter("$KV."+b.Name()+".", req.Filter)
		if !ok {
			s.replyErr(m, typeStreamPurge, &APIError{Code: 400, ErrCode: 10093, Description: "purge filter does not match the stream's subjects"})
			return
		}
		if kf != ">" {
			pr.Filter = kf
		}
	}
	ctx := s.requestContext()
	n, err := b.PurgeStream(ctx, pr)
	if err != nil {
		s.replyErr(m, typeStreamPurge, apiErr(err))
		return
	}
	s.reply(m, struct {
		Type    string `json:"type"`
		Success bool   `json:"success"`
		Purged  uint64 `json:"purged"`
	}{typeStreamPurge, true, n})
}

func (s *Server) bucketFor(stream string) (*node.Bucket, *APIError) {
	bname, ok := bucketOf(stream)
	if !ok {
		return nil, errStreamNotFound
	}
	b, err := s.node.Bucket(bname)
	if err != nil {
		return nil, errStreamNotFound
	}
	return b, nil
}

type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
}

var errNoMessage = &APIError{Code: 404, ErrCode: 10037, Description: "no message found"}

func (s *Server) msgGet(m *natsserver.Msg, name string) {
	var req msgGetRequest
	if len(m.Data) == 0 {
		s.replyErr(m, typeStreamMsgGet, &APIError{Code: 400, ErrCode: 10025, Description: "request body is required"})
		return
	}
	if !s.decode(m, typeStreamMsgGet, &req) {
		return
	}
	b, aerr := s.bucketFor(name)
	if aerr != nil {
		s.replyErr(m, typeStreamMsgGet, aerr)
		return
	}
	msg, aerr := s.lookup(b, req.Seq, req.LastFor, req.NextFor)
	if aerr != nil {
		s.replyErr(m, typeStreamMsgGet, aerr)
		return
	}
	s.reply(m, struct {
		Type    string    `json:"type"`
		Message StoredMsg `json:"message"`
	}{typeStreamMsgGet, StoredMsg{
		Subject:  "$KV." + b.Name() + "." + msg.Key,
		Sequence: msg.Seq,
		Header:   msg.Header,
		Data:     msg.Data,
		Time:     time.Unix(0, msg.Time).UTC(),
	}})
}

// lookup finds a message by sequence, last for a subject, or next for a
// subject from a sequence.
func (s *Server) lookup(b *node.Bucket, seq uint64, lastFor, nextFor string) (*bucket.Msg, *APIError) {
	ctx := s.requestContext()
	prefix := "$KV." + b.Name() + "."
	var msg *bucket.Msg
	var err error
	switch {
	case lastFor != "":
		key, ok := strings.CutPrefix(lastFor, prefix)
		if !ok || node.ValidateKey(key) != nil {
			return nil, errNoMessage
		}
		msg, err = b.LastMessage(ctx, key, node.ReadOptions{})
	case nextFor != "":
		kf, ok := keyFilter(prefix, nextFor)
		if !ok {
			return nil, errNoMessage
		}
		msg, err = b.NextMessage(ctx, kf, seq, node.ReadOptions{})
	case seq > 0:
		msg, err = b.Message(ctx, seq, node.ReadOptions{})
	default:
		return nil, &APIError{Code: 400, ErrCode: 10003, Description: "bad request: one of seq, last_by_subj, next_by_subj is required"}
	}
	if errors.Is(err, node.ErrKeyNotFound) {
		return nil, errNoMessage
	}
	if err != nil {
		return nil, apiErr(err)
	}
	return msg, nil
}

// pageBounds is the page [lo, hi) of total items that a request's offset
// asks for, at most limit long. A negative offset counts as 0 and one
// past the end as the end, as nats-server takes them; neither may crash
// the node.
func pageBounds(offset, total, limit int) (lo, hi int) {
	lo = min(max(offset, 0), total)
	return lo, lo + min(limit, total-lo)
}
