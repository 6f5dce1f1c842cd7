package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/chaos/history"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TombstoneKey is the key of the final write to each bucket.
const TombstoneKey = "tombstone"

// Tombstone writes the final value to bucket, retrying until it is
// acknowledged or ctx ends: once every fault has healed, the cluster
// must accept writes again. Its revision is the last revision of the
// run: everything committed before it is in every later scan.
func Tombstone(ctx context.Context, c *Conn, bucket string, p *Progress) (uint64, error) {
	var rev uint64
	err := retry(ctx, func(ctx context.Context) error {
		kv, err := c.KV(ctx, bucket)
		if err != nil {
			return err
		}
		rev, err = kv.Put(ctx, TombstoneKey, []byte("end of run "+time.Now().UTC().Format(time.RFC3339Nano)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("final write to %s: %w", bucket, err)
	}
	p.acked(bucket, rev) // watchers that stall before it start again
	return rev, nil
}

// Scan reads bucket's whole history through one server (url, named
// node), until it has seen revision until, or ctx ends (then Err says
// so). cairn serves a watch from the node's own replica when it holds
// one, so this is that replica's history; nats-server serves it from the
// stream's consumer, wherever that is placed.
func Scan(ctx context.Context, url, node, bucket string, until uint64, opts ...nats.Option) history.Scan {
	s := history.Scan{Node: node, Bucket: bucket, Until: until}
	c, err := DialOnly(url, "cairn chaos scan", opts...)
	if err != nil {
		s.Err, s.Unreachable = err.Error(), true
		return s
	}
	defer c.Close()
	// Opening is retried until ctx ends, as the tombstone write is: a
	// node may need a moment after the last fault heals before it serves
	// a bucket again (a group restarting, a replica just moved). What
	// it took is kept in the scan and reported; a node that never serves
	// it fails the scan.
	var kw jetstream.KeyWatcher
	err = retry(ctx, func(actx context.Context) error {
		kv, err := c.KV(actx, bucket)
		if err == nil {
			// The watch lives on after this attempt: ctx, not actx.
			kw, err = kv.WatchAll(ctx, jetstream.IncludeHistory())
		}
		if err != nil {
			if s.Retries == 0 {
				s.FirstErr = err.Error()
			}
			s.Retries++
		}
		return err
	})
	if err != nil {
		s.Err = err.Error()
		return s
	}
	defer func() { _ = kw.Stop() }()
	var last uint64
	for last < until {
		select {
		case <-ctx.Done():
			s.Err = fmt.Sprintf("reached revision %d of %d: %v", last, until, ctx.Err())
			return s
		case e, ok := <-kw.Updates():
			if !ok {
				s.Err = fmt.Sprintf("watch closed at revision %d of %d", last, until)
				return s
			}
			if e == nil {
				continue
			}
			s.Entries = append(s.Entries, history.Entry{Rev: e.Revision(), Key: e.Key(), Value: string(e.Value()), Op: opName(e.Operation())})
			last = max(last, e.Revision())
		}
	}
	return s
}
