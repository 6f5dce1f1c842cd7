package natsserver

import (
	"math/rand/v2"

	"github.com/cairnkv/cairn/node/natsproto"
)

// route delivers one published message to every plain subscriber of
// target and to one member of each queue group, showing subject on the
// MSG line (target and subject differ only for PublishTo). from is the
// publishing client, or nil for in-process publishes. It runs on the
// publisher's goroutine and never blocks on a subscriber, so each
// subscriber sees one publisher's messages in publish order. held is nil
// to write to each subscribing client at once, or collects the clients
// whose writes wait for the end of a batch (PublishBatchTo).
func (s *Server) route(from *client, target, subject, reply, hdr, data []byte, held *heldClients) {
	r := s.sl.match(target)
	delivered := false
	for _, sub := range r.psubs {
		if s.deliver(from, sub, subject, reply, hdr, data, held) {
			delivered = true
		}
	}
	for _, group := range r.qsubs {
		start := rand.IntN(len(group))
		for i := range group {
			if s.deliver(from, group[(start+i)%len(group)], subject, reply, hdr, data, held) {
				delivered = true
				break
			}
		}
	}
	if !delivered && len(reply) > 0 && from != nil && from.opts.Headers && from.opts.NoResponders {
		s.noResponders(from, subject, reply)
	}
}

// deliver hands the message to one subscription, honouring echo and
// auto-unsubscribe counts; false means it was not delivered.
func (s *Server) deliver(from *client, sub *subscription, subject, reply, hdr, data []byte, held *heldClients) bool {
	if sub.client != nil && sub.client == from && !from.opts.Echo {
		return false
	}
	ok, last := sub.take()
	if !ok {
		return false
	}
	if last && sub.client != nil {
		sub.client.unsubscribe(sub)
	}
	if sub.client != nil {
		return sub.client.sendMsg(sub, subject, reply, hdr, data, held)
	}
	sub.internal.enqueue(subject, reply, hdr, data)
	return true
}

// noResponders tells a requester nobody is listening: a header-only
// HMSG with status 503 on its own subscription matching the reply
// subject (dropped if it has none).
func (s *Server) noResponders(from *client, subject, reply []byte) {
	r := s.sl.match(reply)
	var sub *subscription
	for _, ps := range r.psubs {
		if ps.client == from {
			sub = ps
			break
		}
	}
	for i := 0; sub == nil && i < len(r.qsubs); i++ {
		for _, qs := range r.qsubs[i] {
			if qs.client == from {
				sub = qs
				break
			}
		}
	}
	if sub == nil {
		return
	}
	ok, last := sub.take()
	if !ok {
		return
	}
	if last {
		from.unsubscribe(sub)
	}
	hdr := natsproto.StatusHeader(503, "", "Nats-Subject", string(subject))
	from.sendMsg(sub, reply, nil, hdr, nil, nil)
}
