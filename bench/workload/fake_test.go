package workload

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// memTarget is an in-memory Target for runner tests.
type memTarget struct {
	mu       sync.Mutex
	rev      uint64
	hist     map[string][][]byte
	revs     map[string]uint64
	watchers map[int]func(string, []byte)
	nextW    int
	buckets  map[string]bool
	log      []string // keys touched, in order (for reproducibility tests)
	setups   int
	teardown int
	unsup    map[string]string
	// fail, if set, can fail an operation on a key.
	fail func(op, key string) error
	// delay is added to every operation.
	delay time.Duration
	conns int
	// closes counts Close calls; maxShared is the most operations seen
	// in flight on one connection at once.
	closes    int
	maxShared int
}

func newMem() *memTarget {
	return &memTarget{hist: map[string][][]byte{}, revs: map[string]uint64{}, watchers: map[int]func(string, []byte){}, buckets: map[string]bool{}}
}

func (m *memTarget) Name() string { return "mem" }
func (m *memTarget) Unsupported(w string) string {
	return m.unsup[w]
}
func (m *memTarget) Setup(ctx context.Context, b Bucket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setups++
	m.hist, m.revs = map[string][][]byte{}, map[string]uint64{}
	return nil
}
func (m *memTarget) Teardown(ctx context.Context, b Bucket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.teardown++
	return nil
}
func (m *memTarget) Connect(ctx context.Context, b Bucket) (Client, error) {
	m.mu.Lock()
	m.conns++
	m.mu.Unlock()
	return &memClient{m: m, hist: b.History}, nil
}

type memClient struct {
	m        *memTarget
	hist     int
	inFlight int // guarded by m.mu
}

func (c *memClient) do(ctx context.Context, op, key string) error {
	c.m.mu.Lock()
	c.inFlight++
	c.m.maxShared = max(c.m.maxShared, c.inFlight)
	c.m.mu.Unlock()
	defer func() {
		c.m.mu.Lock()
		c.inFlight--
		c.m.mu.Unlock()
	}()
	if c.m.delay > 0 {
		select {
		case <-time.After(c.m.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if c.m.fail != nil {
		if err := c.m.fail(op, key); err != nil {
			return err
		}
	}
	return nil
}

func (c *memClient) write(key string, v []byte) uint64 {
	m := c.m
	m.mu.Lock()
	m.rev++
	rev := m.rev
	h := append(m.hist[key], append([]byte(nil), v...))
	if len(h) > c.hist {
		h = h[len(h)-c.hist:]
	}
	m.hist[key] = h
	m.revs[key] = rev
	m.log = append(m.log, "put "+key)
	ws := make([]func(string, []byte), 0, len(m.watchers))
	for _, w := range m.watchers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	for _, w := range ws {
		w(key, v)
	}
	return rev
}

func (c *memClient) Put(ctx context.Context, key string, v []byte) (uint64, error) {
	if err := c.do(ctx, "put", key); err != nil {
		return 0, err
	}
	return c.write(key, v), nil
}

func (c *memClient) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if err := c.do(ctx, "get", key); err != nil {
		return nil, 0, err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.log = append(c.m.log, "get "+key)
	h := c.m.hist[key]
	if len(h) == 0 {
		return nil, 0, fmt.Errorf("mem: %w", ErrNotFound)
	}
	return h[len(h)-1], c.m.revs[key], nil
}

func (c *memClient) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	if err := c.do(ctx, "update", key); err != nil {
		return 0, err
	}
	c.m.mu.Lock()
	if c.m.revs[key] != rev {
		c.m.mu.Unlock()
		return 0, fmt.Errorf("mem: %w", ErrConflict)
	}
	c.m.mu.Unlock()
	return c.write(key, v), nil
}

func (c *memClient) Scan(ctx context.Context, prefix string) (int, int, error) {
	if err := c.do(ctx, "scan", prefix); err != nil {
		return 0, 0, err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	n, b := 0, 0
	for k, h := range c.m.hist {
		if strings.HasPrefix(k, prefix) {
			n++
			b += len(h[len(h)-1])
		}
	}
	return n, b, nil
}

func (c *memClient) Keys(ctx context.Context) (int, error) {
	if err := c.do(ctx, "keys", ""); err != nil {
		return 0, err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return len(c.m.hist), nil
}

func (c *memClient) History(ctx context.Context, key string) (int, error) {
	if err := c.do(ctx, "history", key); err != nil {
		return 0, err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return len(c.m.hist[key]), nil
}

func (c *memClient) Watch(ctx context.Context, fn func(string, []byte)) (func(), error) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	id := c.m.nextW
	c.m.nextW++
	c.m.watchers[id] = fn
	return func() {
		c.m.mu.Lock()
		defer c.m.mu.Unlock()
		delete(c.m.watchers, id)
	}, nil
}

func (c *memClient) CreateBucket(ctx context.Context, b Bucket) error {
	if err := c.do(ctx, "create", b.Name); err != nil {
		return err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.buckets[b.Name] = true
	return nil
}

func (c *memClient) DeleteBucket(ctx context.Context, name string) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	delete(c.m.buckets, name)
	return nil
}

func (c *memClient) Close() error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.closes++
	return nil
}

func (m *memTarget) sortedLog() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]string(nil), m.log...)
	sort.Strings(out)
	return out
}
