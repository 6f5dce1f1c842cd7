package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func callPair(t *testing.T) (*Transport, *Transport) {
	b := newBook()
	a := startNode(t, testConfig(1, b), newRecorder(), b)
	srv := startNode(t, testConfig(2, b), newRecorder(), b)
	srv.HandleCall("echo", func(ctx context.Context, from uint64, p []byte) ([]byte, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no deadline reached the handler")
		}
		return fmt.Appendf(nil, "%d:%s", from, p), nil
	})
	srv.HandleCall("fail", func(context.Context, uint64, []byte) ([]byte, error) {
		return nil, errors.New("boom")
	})
	srv.HandleCall("block", func(ctx context.Context, _ uint64, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	return a, srv
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestCallRoundTrip(t *testing.T) {
	a, _ := callPair(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := bytes.Repeat([]byte{'a' + byte(i)}, 1000*i)
			got, err := a.Call(ctxTimeout(t, 10*time.Second), 2, "echo", payload)
			if err != nil || !bytes.Equal(got, append([]byte("1:"), payload...)) {
				t.Errorf("call %d: %d bytes, %v", i, len(got), err)
			}
		}()
	}
	wg.Wait()
}

func TestCallErrors(t *testing.T) {
	a, _ := callPair(t)

	_, err := a.Call(ctxTimeout(t, 10*time.Second), 2, "fail", nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "boom" || re.Node != 2 || re.Method != "fail" {
		t.Fatalf("handler error: %v", err)
	}

	if _, err := a.Call(ctxTimeout(t, 10*time.Second), 2, "nope", nil); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("unknown method: %v", err)
	}

	// The caller's deadline travels: the handler gives up with it.
	if _, err := a.Call(ctxTimeout(t, 100*time.Millisecond), 2, "block", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked handler: %v", err)
	}

	if _, err := a.Call(ctxTimeout(t, time.Second), 2, "echo", make([]byte, 17<<20)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized call: %v", err)
	}
	if _, err := a.Call(ctxTimeout(t, time.Second), 9, "echo", nil); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("call to an unknown node: %v", err)
	}
}

func TestCallSelf(t *testing.T) {
	_, srv := callPair(t)
	got, err := srv.Call(ctxTimeout(t, time.Second), 2, "echo", []byte("me"))
	if err != nil || string(got) != "2:me" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestCallToStoppedPeerTimesOut(t *testing.T) {
	a, srv := callPair(t)
	if _, err := a.Call(ctxTimeout(t, 10*time.Second), 2, "echo", nil); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	start := time.Now()
	_, err := a.Call(ctxTimeout(t, 300*time.Millisecond), 2, "echo", nil)
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrConnLost) {
		t.Fatalf("call to a stopped peer: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("call took %v", d)
	}
	// Redials fail now; a call waits out its deadline in the queue.
	if _, err := a.Call(ctxTimeout(t, 300*time.Millisecond), 2, "echo", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to a down peer: %v", err)
	}
	if !a.Stats().Peers[2].Down {
		t.Fatal("the peer is not marked down")
	}
}

// A call in flight when its connection breaks fails at once with
// ErrConnLost rather than waiting out its deadline.
func TestCallConnLost(t *testing.T) {
	a, srv := callPair(t)
	started := make(chan struct{})
	srv.HandleCall("hang", func(ctx context.Context, _ uint64, _ []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	errc := make(chan error, 1)
	go func() {
		_, err := a.Call(ctxTimeout(t, time.Minute), 2, "hang", nil)
		errc <- err
	}()
	<-started
	srv.Close()
	if err := <-errc; !errors.Is(err, ErrConnLost) {
		t.Fatalf("got %v, want ErrConnLost", err)
	}
}
