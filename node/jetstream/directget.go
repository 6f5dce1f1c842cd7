package jetstream

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsproto"
	"github.com/cairnkv/cairn/node/natsserver"
	"github.com/cairnkv/cairn/storage/bucket"
)

type directGetRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	LastFor   string     `json:"last_by_subj,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	MaxBytes  int        `json:"max_bytes,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	MultiLast []string   `json:"multi_last,omitempty"`
	UpToSeq   uint64     `json:"up_to_seq,omitempty"`
	UpToTime  *time.Time `json:"up_to_time,omitempty"`
	NoHeaders bool       `json:"no_hdr,omitempty"`
}

// maxMultiLast is nats-server's limit on subjects a multi_last get returns.
const maxMultiLast = 1024

func (s *Server) statusReply(m *natsserver.Msg, code int, desc string, kv ...string) {
	if m.Reply != "" {
		s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: natsproto.StatusHeader(code, desc, kv...)})
	}
}

// directGet answers both DIRECT.GET forms with raw messages.
func (s *Server) directGet(m *natsserver.Msg, stream, subject string) {
	b, aerr := s.bucketFor(stream)
	if aerr != nil {
		s.noResponders(m) // nats-server: no direct-get responder for the stream
		return
	}
	var req directGetRequest
	if subject != "" {
		if len(m.Data) > 0 {
			s.statusReply(m, 408, "Bad Request")
			return
		}
		req.LastFor = subject
	} else {
		if len(strings.TrimSpace(string(m.Data))) == 0 {
			s.statusReply(m, 408, "Empty Request")
			return
		}
		if err := json.Unmarshal(m.Data, &req); err != nil {
			s.statusReply(m, 408, "Malformed Request")
			return
		}
		if (req.Seq > 0 && req.LastFor != "") || (req.LastFor != "" && req.NextFor != "") ||
			(len(req.MultiLast) > 0 && (req.LastFor != "" || req.NextFor != "" || req.Seq > 0)) {
			s.statusReply(m, 408, "Bad Request")
			return
		}
	}
	s.goFn(func() {
		switch {
		case len(req.MultiLast) > 0:
			s.directMultiLast(m, b, &req)
		case req.Batch > 0:
			s.directBatch(m, b, &req)
		default:
			if req.StartTime != nil && req.Seq == 0 {
				req.Seq = s.seqAtTime(b, *req.StartTime)
				if req.NextFor == "" {
					req.NextFor = ">"
				}
			}
			msg, aerr := s.lookup(b, req.Seq, req.LastFor, req.NextFor)
			if aerr != nil {
				switch {
				case aerr.ErrCode == 10037:
					s.statusReply(m, 404, "Message Not Found")
				case aerr.Code >= 500:
					s.noResponders(m) // this replica cannot answer now
				default:
					s.statusReply(m, 408, "Bad Request")
				}
				return
			}
			s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: directHeader(b.Name(), msg, req.NoHeaders), Data: msg.Data})
		}
	})
}

// cursorFailed answers a direct-get batch whose cursor could not open: a
// replica that cannot answer now (no leader, stopped, timed out) answers
// like no responder, so a client (or a forwarding node, which then asks
// another replica) does not take it for a bad request.
func (s *Server) cursorFailed(m *natsserver.Msg, err error) {
	if aerr := apiErr(err); aerr.Code >= 500 {
		s.noResponders(m)
		return
	}
	s.statusReply(m, 408, "Bad Request")
}

// directHeader is the stored header block plus the four headers nats.go
// requires on a direct get.
func directHeader(bname string, msg *bucket.Msg, noHdr bool, extra ...string) []byte {
	var hdr []byte
	if len(msg.Header) > 0 && !noHdr && strings.HasSuffix(string(msg.Header), "\r\n\r\n") {
		hdr = append(hdr, msg.Header[:len(msg.Header)-2]...) // drop the final CRLF
	} else {
		hdr = append(hdr, "NATS/1.0\r\n"...)
	}
	hdr = natsproto.AppendField(hdr, "Nats-Stream", streamPrefix+bname)
	hdr = natsproto.AppendField(hdr, "Nats-Subject", "$KV."+bname+"."+msg.Key)
	hdr = natsproto.AppendField(hdr, "Nats-Sequence", strconv.FormatUint(msg.Seq, 10))
	hdr = natsproto.AppendField(hdr, "Nats-Time-Stamp", time.Unix(0, msg.Time).UTC().Format(time.RFC3339Nano))
	for i := 0; i+1 < len(extra); i += 2 {
		hdr = natsproto.AppendField(hdr, extra[i], extra[i+1])
	}
	return natsproto.AppendHeaderEnd(hdr)
}

func (s *Server) seqAtTime(b *node.Bucket, t time.Time) uint64 {
	ctx := s.requestContext()
	c, err := b.OpenCursor(ctx, node.CursorConfig{Policy: node.DeliverByStartTime, StartTime: t})
	if err != nil {
		return 0
	}
	defer c.Close()
	return c.LastBefore + 1
}

// directBatch streams up to req.Batch messages from req.Seq (optionally
// only those matching next_by_subj), then an EOB status.
func (s *Server) directBatch(m *natsserver.Msg, b *node.Bucket, req *directGetRequest) {
	prefix := "$KV." + b.Name() + "."
	filter := ">"
	if req.NextFor != "" {
		kf, ok := keyFilter(prefix, req.NextFor)
		if !ok {
			s.statusReply(m, 404, "Message Not Found")
			return
		}
		filter = kf
	}
	start := max(req.Seq, 1)
	if req.StartTime != nil {
		start = max(start, s.seqAtTime(b, *req.StartTime))
	}
	ctx := s.requestContext()
	c, err := b.OpenCursor(ctx, node.CursorConfig{Policy: node.DeliverByStartSeq, StartSeq: start, Filters: []string{filter}})
	if err != nil {
		s.cursorFailed(m, err)
		return
	}
	defer c.Close()
	var sent int
	var last uint64
	var bytes int
	pending := c.InitialPending
	for pending > 0 && sent < req.Batch {
		msg, _, ok, err := c.TryNext()
		if err != nil || !ok {
			break
		}
		if req.UpToSeq > 0 && msg.Seq > req.UpToSeq {
			break
		}
		pending--
		hdr := directHeader(b.Name(), msg, req.NoHeaders, "Nats-Num-Pending", strconv.FormatUint(pending, 10), "Nats-Last-Sequence", strconv.FormatUint(last, 10))
		s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: hdr, Data: msg.Data})
		last = msg.Seq
		sent++
		bytes += len(msg.Data) + len(hdr)
		if req.MaxBytes > 0 && bytes >= req.MaxBytes {
			break
		}
	}
	if sent == 0 {
		s.statusReply(m, 404, "Message Not Found")
		return
	}
	s.statusReply(m, 204, "EOB", "Nats-Num-Pending", strconv.FormatUint(pending, 10), "Nats-Last-Sequence", strconv.FormatUint(last, 10))
}

// directMultiLast returns the last message of each matching subject, in
// sequence order, as of up_to_seq.
func (s *Server) directMultiLast(m *natsserver.Msg, b *node.Bucket, req *directGetRequest) {
	prefix := "$KV." + b.Name() + "."
	var filters []string
	for _, f := range req.MultiLast {
		if kf, ok := keyFilter(prefix, f); ok {
			filters = append(filters, kf)
		}
	}
	if len(filters) == 0 {
		s.statusReply(m, 404, "Message Not Found")
		return
	}
	ctx := s.requestContext()
	c, err := b.OpenCursor(ctx, node.CursorConfig{Policy: node.DeliverLastPerKey, Filters: filters})
	if err != nil {
		s.cursorFailed(m, err)
		return
	}
	defer c.Close()
	if c.InitialPending > maxMultiLast {
		s.statusReply(m, 413, "Too Many Results")
		return
	}
	var msgs []*bucket.Msg
	for n := c.InitialPending; n > 0; n-- {
		msg, _, ok, err := c.TryNext()
		if err != nil || !ok {
			break
		}
		if req.UpToSeq > 0 && msg.Seq > req.UpToSeq {
			continue
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		s.statusReply(m, 404, "Message Not Found")
		return
	}
	upTo := req.UpToSeq
	if upTo == 0 {
		upTo = c.LastBefore
		for _, msg := range msgs {
			upTo = max(upTo, msg.Seq)
		}
	}
	var last uint64
	for i, msg := range msgs {
		pending := uint64(len(msgs) - 1 - i)
		hdr := directHeader(b.Name(), msg, req.NoHeaders, "Nats-Num-Pending", strconv.FormatUint(pending, 10), "Nats-Last-Sequence", strconv.FormatUint(last, 10))
		s.r.Publish(&natsserver.Msg{Subject: m.Reply, Header: hdr, Data: msg.Data})
		last = msg.Seq
	}
	s.statusReply(m, 204, "EOB", "Nats-Num-Pending", "0", "Nats-Last-Sequence", strconv.FormatUint(last, 10), "Nats-UpTo-Sequence", strconv.FormatUint(upTo, 10))
}
