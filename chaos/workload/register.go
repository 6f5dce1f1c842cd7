package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/chaos/history"
	"github.com/nats-io/nats.go/jetstream"
)

// Register configures the register workload.
type Register struct {
	Bucket string
	// Slots is how many keys are in use at once; PerKey how many writes
	// a key gets before its slot moves to a fresh key (≤ MaxHistory).
	Slots, PerKey int
	// Rate is each client's operations per second (0: as fast as it can).
	Rate float64
	// OpTimeout bounds one operation; MaxOps one client's operations.
	OpTimeout time.Duration
	MaxOps    int
	// Seed makes the choice of operations repeatable.
	Seed uint64
	// Refusals are the target's definite write failures.
	Refusals Refusals
}

// Progress is shared between the workloads and the harness.
type Progress struct {
	// MaxRev is the highest revision acknowledged per bucket.
	mu     sync.Mutex
	maxRev map[string]uint64
	// Unique numbers values across clients and runs of a workload.
	seq atomic.Uint64
}

// NewProgress makes an empty Progress.
func NewProgress() *Progress { return &Progress{maxRev: map[string]uint64{}} }

func (p *Progress) acked(bucket string, rev uint64) {
	p.mu.Lock()
	p.maxRev[bucket] = max(p.maxRev[bucket], rev)
	p.mu.Unlock()
}

// MaxRev is the highest revision acknowledged in bucket so far.
func (p *Progress) MaxRev(bucket string) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxRev[bucket]
}

func (p *Progress) value(client int) string {
	return fmt.Sprintf("c%d-%d", client, p.seq.Add(1))
}

// RunRegister runs one register client per connection until ctx ends or
// each has made MaxOps operations.
func RunRegister(ctx context.Context, cfg Register, conns []*Conn, log *history.Log, p *Progress) {
	slots := newKeySlots(cfg.Slots, cfg.PerKey)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := &regClient{id: i, cfg: cfg, conn: c, log: log, p: p, slots: slots,
				rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i))), revs: map[string]uint64{}}
			rc.run(ctx)
		}()
	}
	wg.Wait()
}

type regClient struct {
	id    int
	cfg   Register
	conn  *Conn
	log   *history.Log
	p     *Progress
	slots *keySlots
	rng   *rand.Rand
	revs  map[string]uint64 // the last revision this client saw per key
}

func (c *regClient) run(ctx context.Context) {
	pace := newPacer(c.cfg.Rate)
	for n := 0; n < c.cfg.MaxOps && pace.wait(ctx); n++ {
		kv, err := c.conn.KV(ctx, c.cfg.Bucket)
		if err != nil {
			continue // the bucket's info could not be read: try again
		}
		s := c.rng.IntN(c.cfg.Slots)
		r := c.rng.IntN(100)
		switch {
		case r < 40:
			c.get(ctx, kv, c.slots.key(s, false))
		default:
			key := c.slots.key(s, true)
			if rev, ok := c.revs[key]; ok && r < 70 {
				c.cas(ctx, kv, key, rev)
			} else {
				c.put(ctx, kv, key)
			}
		}
	}
}

func (c *regClient) op(kind, key string) history.Op {
	return history.Op{Client: c.id, Bucket: c.cfg.Bucket, Kind: kind, Key: key, Node: c.conn.Node(), Call: c.log.Now()}
}

func (c *regClient) get(ctx context.Context, kv jetstream.KeyValue, key string) {
	o := c.op(history.Get, key)
	octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	e, err := kv.Get(octx, key)
	cancel()
	o.Return = c.log.Now()
	switch {
	case err == nil:
		o.Result, o.Found, o.Value, o.Rev = history.Ok, true, string(e.Value()), e.Revision()
		c.revs[key] = e.Revision()
	case errors.Is(err, jetstream.ErrKeyNotFound):
		o.Result = history.Ok
	default:
		o.Result, o.Return, o.Err = history.Unknown, history.Never, err.Error()
	}
	c.log.Add(o)
}

func (c *regClient) put(ctx context.Context, kv jetstream.KeyValue, key string) {
	o := c.op(history.Put, key)
	o.Value = c.p.value(c.id)
	octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	rev, err := kv.Put(octx, key, []byte(o.Value))
	cancel()
	c.finishWrite(&o, rev, err)
}

func (c *regClient) cas(ctx context.Context, kv jetstream.KeyValue, key string, expect uint64) {
	o := c.op(history.CAS, key)
	o.Value, o.Expect = c.p.value(c.id), expect
	octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	rev, err := kv.Update(octx, key, []byte(o.Value), expect)
	cancel()
	c.finishWrite(&o, rev, err)
}

func (c *regClient) finishWrite(o *history.Op, rev uint64, err error) {
	o.Return = c.log.Now()
	switch o.Result, o.Refused = c.cfg.Refusals.outcome(o.Kind, err); o.Result {
	case history.Ok:
		o.Rev = rev
		c.revs[o.Key] = rev
		c.p.acked(o.Bucket, rev)
	case history.Fail:
		o.Err = err.Error()
		if !o.Refused {
			delete(c.revs, o.Key) // a CAS's expected revision is stale
		}
	default:
		o.Return, o.Err = history.Never, err.Error()
		delete(c.revs, o.Key)
	}
	c.log.Add(*o)
}
