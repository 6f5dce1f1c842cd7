package workload

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cairnkv/cairn/chaos/history"
)

// Set configures the set workload: each client writes fresh keys
// "e.c<client>.<n>", one write each.
type Set struct {
	Bucket    string
	Rate      float64 // per client
	OpTimeout time.Duration
	MaxOps    int
	Refusals  Refusals // the target's definite write failures
}

// RunSet runs one set client per connection until ctx ends or each has
// made MaxOps writes.
func RunSet(ctx context.Context, cfg Set, conns []*Conn, log *history.Log, p *Progress) {
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runSetClient(ctx, cfg, i, c, log, p)
		}()
	}
	wg.Wait()
}

func runSetClient(ctx context.Context, cfg Set, id int, c *Conn, log *history.Log, p *Progress) {
	pace := newPacer(cfg.Rate)
	for n := 0; n < cfg.MaxOps && pace.wait(ctx); n++ {
		kv, err := c.KV(ctx, cfg.Bucket)
		if err != nil {
			continue
		}
		o := history.Op{Client: id, Bucket: cfg.Bucket, Kind: history.Add, Key: fmt.Sprintf("e.c%d.%d", id, n),
			Value: p.value(id), Node: c.Node(), Call: log.Now()}
		octx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
		rev, err := kv.Put(octx, o.Key, []byte(o.Value))
		cancel()
		o.Return = log.Now()
		switch o.Result, o.Refused = cfg.Refusals.outcome(o.Kind, err); o.Result {
		case history.Ok:
			o.Rev = rev
			p.acked(cfg.Bucket, rev)
		case history.Fail:
			o.Err = err.Error()
		default:
			o.Return, o.Err = history.Never, err.Error()
		}
		log.Add(o)
	}
}
