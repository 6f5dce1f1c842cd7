package natsserver

import (
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/node/natsproto"
)

// nats-server's texts for non-parse errors.
const (
	errTextBadProtocol    = "invalid client protocol"
	errTextNoRespHeaders  = "no responders requires headers support"
	errTextInvalidSubject = "Invalid Subject"
	errTextInvalidPublish = "Invalid Publish Subject"
	errTextMaxSubs        = "maximum subscriptions exceeded"
	errTextMaxConns       = "maximum connections exceeded"
)

var errHeadersNotSupported = errors.New("natsserver: HPUB without headers negotiated in CONNECT")

// handleOp runs in the read loop for every parsed operation. A returned
// error closes the connection.
func (c *client) handleOp(op *natsproto.Op) error {
	if op.Kind != natsproto.OpConnect && !c.authed.Load() {
		// As nats-server: with authentication required, the first
		// operation must be the CONNECT that carries it.
		c.authViolation("")
		return errClosed
	}
	switch op.Kind {
	case natsproto.OpPing:
		c.queueProto(natsproto.PongLine)
		// As nats-server: INFO updates start after the first PONG that
		// follows a CONNECT asking for them, since clients expect the
		// PONG of their handshake's PING as the next line.
		if c.opts.Protocol >= natsproto.ClientProtoInfo && !c.infoUpdates.Swap(true) {
			c.catchUpInfo()
		}
	case natsproto.OpPong:
		c.pingsOut.Store(0)
	case natsproto.OpConnect:
		return c.processConnect(op.JSON)
	case natsproto.OpSub:
		c.processSub(op)
	case natsproto.OpUnsub:
		c.processUnsub(op)
	case natsproto.OpPub, natsproto.OpHPub:
		return c.processPub(op)
	}
	return nil
}

func (c *client) processConnect(arg []byte) error {
	// Merge onto the current options like nats-server: absent fields
	// keep their values (verbose and pedantic start out true).
	opts := c.opts
	if err := opts.Decode(arg); err != nil {
		return fmt.Errorf("CONNECT: %w", err)
	}
	c.opts = opts
	if !c.authenticate(&opts) {
		return errClosed
	}
	if opts.Protocol < natsproto.ClientProtoZero || opts.Protocol > natsproto.ClientProtoInfo {
		c.closeConn("bad client protocol", errTextBadProtocol, false)
		return errClosed
	}
	if opts.NoResponders && !opts.Headers {
		c.closeConn("no_responders without headers", errTextNoRespHeaders, false)
		return errClosed
	}
	c.headers.Store(opts.Headers)
	c.log.Debug("client connected", "name", opts.Name, "lang", opts.Lang, "version", opts.Version)
	c.sendOK()
	return nil
}

func (c *client) processSub(op *natsproto.Op) {
	if !natsproto.ValidSubscribeSubject(op.Subject) || (op.Queue != nil && !natsproto.ValidQueueName(op.Queue)) {
		c.queueErr(errTextInvalidSubject)
		return
	}
	c.subsMu.Lock()
	if c.subs == nil { // closing
		c.subsMu.Unlock()
		return
	}
	if _, dup := c.subs[string(op.SID)]; dup {
		// nats-server keeps the existing subscription.
		c.subsMu.Unlock()
		c.sendOK()
		return
	}
	if max := c.srv.cfg.MaxSubscriptions; max > 0 && len(c.subs) >= max {
		c.subsMu.Unlock()
		c.queueErr(errTextMaxSubs)
		return
	}
	sub := &subscription{
		subject: string(op.Subject),
		queue:   string(op.Queue),
		sid:     string(op.SID),
		client:  c,
	}
	c.subs[sub.sid] = sub
	c.srv.sl.insert(sub)
	c.subsMu.Unlock()
	c.sendOK()
}

func (c *client) processUnsub(op *natsproto.Op) {
	c.subsMu.Lock()
	sub := c.subs[string(op.SID)]
	c.subsMu.Unlock()
	if sub != nil {
		max := int64(op.Max)
		if max > 0 && max > sub.delivered.Load() {
			sub.max.Store(max)
			// Deliveries racing with the store may already have
			// reached max without seeing it.
			if sub.delivered.Load() >= max {
				c.unsubscribe(sub)
			}
		} else {
			c.unsubscribe(sub)
		}
	}
	c.sendOK()
}

func (c *client) processPub(op *natsproto.Op) error {
	if op.Kind == natsproto.OpHPub && !c.headers.Load() {
		// nats-server closes such connections without an -ERR.
		return errHeadersNotSupported
	}
	if c.opts.Pedantic && !natsproto.ValidLiteralSubject(op.Subject) {
		// Like nats-server: complain, then still deliver.
		c.queueErr(errTextInvalidPublish)
	}
	c.srv.stats.inMsgs.Add(1)
	c.srv.stats.inBytes.Add(uint64(len(op.Header) + len(op.Payload)))
	c.sendOK()
	c.srv.route(c, op.Subject, op.Subject, op.Reply, op.Header, op.Payload, nil)
	return nil
}
