package httpapi

import (
	"context"
	"testing"
)

func TestLifecycle(t *testing.T) {
	ts := startServer(t, Options{})
	if err := ts.s.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	idle := New(ts.n, Options{Logger: quiet, Registry: nil})
	if idle.Addr() != nil || idle.URL() != "" {
		t.Fatal("Addr before Start")
	}
	if err := idle.Close(); err != nil {
		t.Fatalf("Close before Start: %v", err)
	}
	if err := idle.Start(context.Background()); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	if err := ts.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ts.s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
