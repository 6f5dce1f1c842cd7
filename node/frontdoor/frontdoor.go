package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/jetstream"
	"github.com/cairnkv/cairn/node/natsserver"
)

// FrontDoors are a node's running client listeners.
type FrontDoors struct {
	NATS *natsserver.Server
	JS   *jetstream.Server

	lg              *slog.Logger
	stopOnce        sync.Once
	stop, announced chan struct{} // end announce; closed when it has
}

// Start opens the client listeners for n according to its configuration.
func Start(ctx context.Context, n *node.Node, lg *slog.Logger) (*FrontDoors, error) {
	if lg == nil {
		lg = slog.Default()
	}
	cfg := n.Config()
	nc := natsserver.DefaultConfig()
	nc.ListenAddr = cfg.ClientAddr
	nc.ServerName = n.Name()
	nc.Version = jetstream.ServerVersion
	nc.MaxPayload = cfg.MaxPayload
	nc.MaxConnections = cfg.MaxConnections
	nc.MaxSubscriptions = cfg.MaxSubscriptions
	nc.Logger = lg
	if t := n.ClientTLS(); t != nil {
		nc.TLS = t.Server
	}
	if auth := n.ClientAuth(); auth.Required() {
		nc.Authorize = auth.Check
		if len(auth.NKeys) > 0 {
			nc.AuthorizeNKey = auth.CheckNKey
		}
		// What is asked for, never the secrets themselves.
		lg.Info("clients must authenticate", "tokens", len(auth.Tokens), "users", len(auth.Users), "nkeys", len(auth.NKeys))
	}
	ns, err := natsserver.New(nc)
	if err != nil {
		return nil, err
	}
	if err := ns.Start(ctx); err != nil {
		return nil, fmt.Errorf("starting NATS listener: %w", err)
	}
	if err := n.SetAdvertised(ns.Addr().String(), ""); err != nil {
		lg.Warn("advertising the client address", "err", err)
	}
	js := jetstream.New(n, ns, lg)
	if err := js.Start(); err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("starting JetStream API: %w", err)
	}
	f := &FrontDoors{NATS: ns, JS: js, lg: lg, stop: make(chan struct{}), announced: make(chan struct{})}
	if cfg.NoAdvertise {
		close(f.announced)
	} else {
		go f.announce(n)
	}
	return f, nil
}

// announce keeps the connect_urls of the NATS port's INFO equal to the
// client addresses of the cluster's live nodes, so that a client given
// one node's URL learns the others and fails over to them.
func (f *FrontDoors) announce(n *node.Node) {
	defer close(f.announced)
	for {
		addrs, changed := n.ClientAddrs()
		f.NATS.SetConnectURLs(addrs)
		if changed == nil {
			return // a node alone: nothing to announce, ever
		}
		select {
		case <-changed:
		case <-f.stop:
			return
		}
	}
}

// ClientURL is the nats:// URL clients connect to.
func (f *FrontDoors) ClientURL() string {
	a, ok := f.NATS.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	if f.NATS.Config().TLS != nil {
		// nats.go's scheme for a server that requires TLS.
		return fmt.Sprintf("tls://%s", a.String())
	}
	return fmt.Sprintf("nats://%s", a.String())
}

// LameDuck starts a graceful shutdown of the NATS port, as nats-server's
// lame-duck mode: no new connections, and connected clients are told
// ("ldm" in INFO) which other nodes to move to (none with no-advertise). They are still served
// until Close.
func (f *FrontDoors) LameDuck(n *node.Node) {
	f.stopOnce.Do(func() { close(f.stop) })
	<-f.announced // the list told now is the last
	var others []string
	if !n.Config().NoAdvertise {
		others = n.OtherClientAddrs()
	}
	f.NATS.LameDuck(others)
}

// drainTimeout bounds how long Drain waits for requests in flight.
const drainTimeout = 2 * time.Second

// Drain answers every request from now on with a retryable "shutting
// down" error, and waits (up to drainTimeout) for the requests in flight
// to be answered; Close then flushes the answers before it closes the
// connections. Without it, a request in flight when its connection
// closed got 503 "request timed out" as shutdown cancelled it, or was
// lost and its client waited out its timeout.
func (f *FrontDoors) Drain() {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	start := time.Now()
	answered := f.JS.Drain(ctx)
	f.lg.Info("refusing client requests; those in flight answered", "all_answered", answered, "took", time.Since(start).Round(time.Millisecond).String())
}

// Close stops the listeners (the node keeps running).
func (f *FrontDoors) Close() error {
	f.stopOnce.Do(func() { close(f.stop) })
	<-f.announced
	f.JS.Close()
	return errors.Join(f.NATS.Close())
}
