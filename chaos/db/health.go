package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var httpClient = &http.Client{Timeout: 3 * time.Second}

// WaitReady waits until slot i serves: for cairn, its /readyz answers
// 200 (joined, and every bucket it holds has a leader and is caught up);
// for nats-server, it answers the JetStream API.
func (l *Local) WaitReady(ctx context.Context, i int) error {
	var last error
	for {
		p := l.proc(i)
		if p == nil || p.Exited() {
			return fmt.Errorf("%s is not running; last log lines:\n%s", l.Name(i), tail(p))
		}
		if last = l.ready(ctx, i); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v); its log: %s", l.Name(i), ctx.Err(), last, l.LogPath(i))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(p interface{ Tail(int) string }) string {
	if p == nil {
		return ""
	}
	return p.Tail(10)
}

// ready checks slot i once.
func (l *Local) ready(ctx context.Context, i int) error {
	if l.o.Kind == Cairn {
		return l.getJSON(ctx, l.HTTPURL(i)+"/readyz", nil)
	}
	nc, err := nats.Connect(l.URLs()[i], append(l.NATSOptions(), nats.NoReconnect(), nats.Timeout(2*time.Second), nats.IgnoreDiscoveredServers())...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = js.AccountInfo(cctx)
	return err
}

// WaitHealthy waits until every running, unpaused node is ready and
// every bucket named has a leader with all replicas current.
func (l *Local) WaitHealthy(ctx context.Context, buckets []string) error {
	for i := range l.Size() {
		if l.Running(i) && !l.Paused(i) {
			if err := l.WaitReady(ctx, i); err != nil {
				return err
			}
		}
	}
	for _, b := range buckets {
		for {
			err := l.bucketHealthy(ctx, b)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("bucket %s: %w (last: %v)", b, ctx.Err(), err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// bucketHealthy asks the cluster about a bucket's stream once.
func (l *Local) bucketHealthy(ctx context.Context, bucket string) error {
	info, err := l.streamInfo(ctx, bucket)
	if err != nil {
		return err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return errors.New("no leader")
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return fmt.Errorf("replica %s is not current", r.Name)
		}
	}
	return nil
}

func (l *Local) streamInfo(ctx context.Context, bucket string) (*jetstream.StreamInfo, error) {
	var urls []string
	for i, u := range l.URLs() {
		if l.Running(i) && !l.Paused(i) {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("no node is running")
	}
	var last error
	for _, u := range urls {
		nc, err := nats.Connect(u, append(l.NATSOptions(), nats.NoReconnect(), nats.Timeout(2*time.Second), nats.IgnoreDiscoveredServers())...)
		if err != nil {
			last = err
			continue
		}
		js, err := jetstream.New(nc)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			var s jetstream.Stream
			if s, err = js.Stream(cctx, "KV_"+bucket); err == nil {
				cancel()
				nc.Close()
				return s.CachedInfo(), nil
			}
			cancel()
		}
		nc.Close()
		last = err
	}
	return nil, last
}

// Leader is the slot of the node that leads bucket.
func (l *Local) Leader(ctx context.Context, bucket string) (int, error) {
	info, err := l.streamInfo(ctx, bucket)
	if err != nil {
		return -1, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return -1, errors.New("no leader known")
	}
	for i := range l.Size() {
		if l.Name(i) == info.Cluster.Leader {
			return i, nil
		}
	}
	return -1, fmt.Errorf("leader %q is not a node of this cluster", info.Cluster.Leader)
}

// getJSON GETs url and decodes a 200 answer into v (nil: ignore it).
func (l *Local) getJSON(ctx context.Context, url string, v any) error {
	return l.doJSON(ctx, http.MethodGet, url, v)
}

func (l *Local) doJSON(ctx context.Context, method, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	res, err := l.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, res.Status, body)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(body, v)
}
