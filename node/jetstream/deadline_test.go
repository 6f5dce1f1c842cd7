package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Requests that start close together share a deadline context, each
// gets at most requestTimeout and at least requestTimeout-deadlineShare,
// a later request gets a fresh one, and closing the parent ends them all.
func TestSharedDeadlines(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	d := &sharedDeadlines{parent: parent}

	t0 := time.Now()
	a := d.get()
	b := d.get()
	t1 := time.Now()
	if t1.Sub(t0) < deadlineShare && a != b {
		t.Fatal("two requests a moment apart got separate contexts")
	}
	dl, ok := a.Deadline()
	if !ok || dl.Before(t0.Add(requestTimeout-deadlineShare)) || dl.After(t1.Add(requestTimeout)) {
		t.Fatalf("deadline %v for a request at %v", dl, t0)
	}

	d.mu.Lock()
	d.renewAt = time.Now() // as if deadlineShare had passed
	d.mu.Unlock()
	c := d.get()
	if c == a {
		t.Fatal("a request after the share window reused the old context")
	}
	if dl2, _ := c.Deadline(); dl2.Before(dl) {
		t.Fatalf("renewed deadline %v is earlier than %v", dl2, dl)
	}

	cancel()
	for _, ctx := range []context.Context{a, c} {
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("context after the server closed: %v", ctx.Err())
		}
	}
}

// A node whose request timeout is shorter bounds requests by it.
func TestSharedDeadlinesShorterTimeout(t *testing.T) {
	d := &sharedDeadlines{parent: context.Background(), timeout: time.Second}
	before := time.Now()
	dl, ok := d.get().Deadline()
	if !ok || dl.After(time.Now().Add(time.Second)) || dl.Before(before.Add(time.Second-deadlineShare)) {
		t.Fatalf("deadline %v for a request at %v with a 1s timeout", dl, before)
	}
}
