package frontdoor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Drain, the step of shutdown between the leadership hand-off and
// closing client connections, waits for a publish in flight to be
// answered, and answers what comes after it at once with a retryable
// 503 instead of taking it: a put, an API request, a direct get.
func TestDrainWaitsForRequestsInFlightAndRefusesNew(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const requestTimeout = 2 * time.Second
	nodes, js, kv := startLostQuorum(t, ctx, func(c *node.Config) { c.RequestTimeout = requestTimeout })
	fd := nodes[0].fd

	// Without a quorum, this put stays in flight for the request timeout.
	inFlight := make(chan error, 1)
	go func() {
		_, err := kv.Put(ctx, "k", []byte("in flight"))
		inFlight <- err
	}()
	waitFor(t, 5*time.Second, "the put in flight", func() bool {
		pending, _ := fd.JS.PendingPublishes()
		return pending == 1
	})
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	drained := fd.JS.Drain(short)
	cancelShort()
	if drained {
		t.Fatal("Drain returned while a put was in flight")
	}

	// New requests are refused at once, while the put is still in flight.
	start := time.Now()
	_, err := kv.Put(ctx, "k", []byte("new"))
	assertShuttingDown(t, "a put", err)
	_, err = js.Stream(ctx, "KV_q")
	assertShuttingDown(t, "stream info", err)
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("a get while draining: %v (%T), want no responders", err, err)
	}
	if took := time.Since(start); took > requestTimeout/2 {
		t.Fatalf("refusing three requests took %v", took)
	}
	select {
	case err := <-inFlight:
		t.Fatalf("the put in flight was answered early: %v", err)
	default:
	}

	if !fd.JS.Drain(ctx) {
		t.Fatal("Drain gave up")
	}
	select {
	case err := <-inFlight:
		// Answered as without a quorum (request timed out): not refused.
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10008 || strings.Contains(apiErr.Description, "shutting down") {
			t.Fatalf("the put in flight: %v, want its own answer", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Drain returned but the put in flight was never answered")
	}
}

func assertShuttingDown(t *testing.T, what string, err error) {
	t.Helper()
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.ErrorCode != 10008 || !strings.Contains(apiErr.Description, "shutting down") {
		t.Fatalf("%s while draining: %v (%T), want 503 10008 shutting down", what, err, err)
	}
}
