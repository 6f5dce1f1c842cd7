package jetstream

import (
	"strconv"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsproto"
	"github.com/cairnkv/cairn/node/natsserver"
	"github.com/cairnkv/cairn/storage/bucket"
)

// Publish headers JetStream interprets.
const (
	hdrKVOperation       = "KV-Operation"
	hdrRollup            = "Nats-Rollup"
	hdrTTL               = "Nats-TTL"
	hdrExpLastSubjSeq    = "Nats-Expected-Last-Subject-Sequence"
	hdrExpLastSubjSeqSub = "Nats-Expected-Last-Subject-Sequence-Subject"
	hdrExpLastSeq        = "Nats-Expected-Last-Sequence"
	hdrExpStream         = "Nats-Expected-Stream"
)

// handlePublish stores a message published to $KV.<bucket>.<key> and
// answers with a PubAck. It runs on the publisher's goroutine (an inline
// subscription) and queues the proposal there, so a client's publishes
// keep their order; the wait for commit happens elsewhere.
func (s *Server) handlePublish(m *natsserver.Msg) {
	s.publish(m, false)
}

// publish serves a $KV publish; refreshed is true when its bucket was
// unknown here and the registry has since been refreshed.
func (s *Server) publish(m *natsserver.Msg, refreshed bool) {
	if s.refuseDraining(m, true, false) {
		return
	}
	rest := strings.TrimPrefix(m.Subject, "$KV.")
	bname, key, ok := strings.Cut(rest, ".")
	if !ok {
		s.noResponders(m)
		return
	}
	if !refreshed && s.refreshFirst(bname, func() { s.publish(m, true) }) {
		return
	}
	if replicas, remote := s.fwd.target(bname); remote {
		fwd := s.forwarderFor(m)
		if fwd == nil {
			s.refuseAnotherHop(m, bname)
			return
		}
		fwd.publish(m, replicas)
		return
	}
	b, err := s.node.Bucket(bname)
	if err != nil {
		// No stream holds this subject: nats-server has no responder.
		s.noResponders(m)
		return
	}
	stream := streamPrefix + bname
	p, aerr := parsePublish(bname, key, m.Header, m.Data)
	if aerr == nil {
		if v, ok := natsproto.HeaderValue(m.Header, hdrExpStream); ok && string(v) != stream {
			aerr = &APIError{Code: 400, ErrCode: 10060, Description: "expected stream does not match"}
		}
	}
	if aerr != nil {
		s.pubAck(m, PubAck{Stream: stream, Error: aerr})
		return
	}
	if !s.pending.admit() {
		s.refuse(m, stream)
		return
	}
	wait := b.PublishAsync(p)
	s.goFn(func() {
		defer s.pending.release()
		ctx := s.requestContext()
		res, err := wait(ctx)
		if err != nil {
			s.pubAck(m, PubAck{Stream: stream, Error: apiErr(err)})
			return
		}
		s.pubAck(m, PubAck{Stream: stream, Sequence: res.Seqs[0]})
		s.republish(b, &p, res.Seqs[0], res.Prev[0])
	})
}

func (s *Server) pubAck(m *natsserver.Msg, ack PubAck) {
	if ack.Error != nil {
		s.apiErrors.Add(1)
	}
	if m.Reply == "" {
		return
	}
	if data, ok := ack.appendJSON(nil); ok {
		s.r.Publish(&natsserver.Msg{Subject: m.Reply, Data: data})
		return
	}
	s.reply(m, ack)
}

// parsePublish turns a publish into a bucket write, interpreting the
// headers as nats-server does; the header block is stored verbatim.
func parsePublish(bname, key string, hdr, data []byte) (bucket.Publish, *APIError) {
	p := bucket.Publish{Key: key, Header: hdr, Data: data}
	if err := node.ValidateKey(key); err != nil {
		return p, &APIError{Code: 400, ErrCode: 10052, Description: err.Error()}
	}
	if len(hdr) == 0 {
		return p, nil
	}
	if v, ok := natsproto.HeaderValue(hdr, hdrKVOperation); ok {
		switch string(v) {
		case "DEL":
			p.Op = bucket.OpDelete
		case "PURGE":
			p.Op = bucket.OpPurge
		}
	}
	if v, ok := natsproto.HeaderValue(hdr, hdrRollup); ok {
		switch string(v) {
		case "sub":
			p.Rollup = bucket.RollupKey
		case "all":
			p.Rollup = bucket.RollupAll
		default:
			return p, &APIError{Code: 400, ErrCode: 10111, Description: "rollup value invalid: " + string(v)}
		}
	}
	if v, ok := natsproto.HeaderValue(hdr, hdrTTL); ok {
		ttl, err := parseTTL(string(v))
		if err != nil {
			return p, &APIError{Code: 400, ErrCode: 10165, Description: "invalid per-message TTL"}
		}
		p.TTL = int64(ttl)
	}
	if v, ok := natsproto.HeaderValue(hdr, hdrExpLastSubjSeq); ok {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return p, &APIError{Code: 400, ErrCode: 10071, Description: "wrong last sequence: unparsable expected sequence"}
		}
		p.HasExpectKeySeq, p.ExpectKeySeq = true, n
		if sub, ok := natsproto.HeaderValue(hdr, hdrExpLastSubjSeqSub); ok {
			k, ok := strings.CutPrefix(string(sub), "$KV."+bname+".")
			if !ok || node.ValidateKey(k) != nil {
				return p, &APIError{Code: 400, ErrCode: 10071, Description: "wrong last sequence: subject outside the stream"}
			}
			p.ExpectKey = k
		}
	}
	if v, ok := natsproto.HeaderValue(hdr, hdrExpLastSeq); ok {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return p, &APIError{Code: 400, ErrCode: 10071, Description: "wrong last sequence: unparsable expected sequence"}
		}
		p.HasExpectLastSeq, p.ExpectLastSeq = true, n
	}
	return p, nil
}

// parseTTL reads a Nats-TTL value: integer seconds, a Go duration, or
// "never" (accepted; cairn then keeps the message without a TTL).
func parseTTL(v string) (time.Duration, error) {
	if v == "never" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 1 {
			return 0, strconv.ErrRange
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < time.Second {
		return 0, strconv.ErrRange
	}
	return d, nil
}

// republish copies a stored message to the bucket's republish destination.
func (s *Server) republish(b *node.Bucket, p *bucket.Publish, seq, prev uint64) {
	rp := b.Config().RePublish
	if rp == nil {
		return
	}
	subject := "$KV." + b.Name() + "." + p.Key
	src := rp.Source
	if src == "" {
		src = ">"
	}
	dest, ok := mapSubject(src, rp.Destination, subject)
	if !ok {
		return
	}
	hdr := p.Header
	if len(hdr) == 0 {
		hdr = []byte("NATS/1.0\r\n\r\n")
	}
	for _, kv := range [][2]string{
		{"Nats-Stream", streamPrefix + b.Name()},
		{"Nats-Subject", subject},
		{"Nats-Sequence", strconv.FormatUint(seq, 10)},
		{"Nats-Last-Sequence", strconv.FormatUint(prev, 10)},
	} {
		var err error
		if hdr, err = natsproto.AppendHeader(hdr, kv[0], kv[1]); err != nil {
			return
		}
	}
	data := p.Data
	if rp.HeadersOnly {
		hdr, _ = natsproto.AppendHeader(hdr, "Nats-Msg-Size", strconv.Itoa(len(data)))
		data = nil
	}
	out := &natsserver.Msg{Subject: dest, Header: hdr, Data: data}
	s.r.Publish(out)
	s.fwd.broadcast(out)
}

// mapSubject maps subject through a source filter and destination: the
// tokens that the source's wildcards matched replace the destination's
// wildcards in order (a final '>' takes the rest).
func mapSubject(src, dest, subject string) (string, bool) {
	stoks, toks := strings.Split(src, "."), strings.Split(subject, ".")
	var wild []string
	for i, st := range stoks {
		if st == ">" {
			if i >= len(toks) {
				return "", false
			}
			wild = append(wild, strings.Join(toks[i:], "."))
			toks = toks[:i]
			stoks = stoks[:i]
			break
		}
		if i >= len(toks) {
			return "", false
		}
		if st == "*" {
			wild = append(wild, toks[i])
		} else if st != toks[i] {
			return "", false
		}
	}
	if len(stoks) != len(toks) {
		return "", false
	}
	dtoks := strings.Split(dest, ".")
	w := 0
	for i, dt := range dtoks {
		if (dt == "*" || dt == ">") && w < len(wild) {
			dtoks[i] = wild[w]
			w++
		}
	}
	return strings.Join(dtoks, "."), true
}
