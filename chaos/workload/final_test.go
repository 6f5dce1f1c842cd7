package workload

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/chaos/history"
	"github.com/cairnkv/cairn/node/natsref"
	"github.com/nats-io/nats.go/jetstream"
)

// A scan keeps trying to open a bucket the server cannot serve yet (here:
// not created yet, as a node whose replica is still starting answers),
// reports what it took, and fails only when ctx ends first.
func TestScanRetriesOpeningAndSaysSo(t *testing.T) {
	url := natsref.JetStream(t, false)
	_, js := natsref.Connect(t, url)

	t.Run("never served", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		s := Scan(ctx, url, "n1", "never", 1)
		if s.Err == "" || s.Retries == 0 || !strings.Contains(s.FirstErr, "not found") {
			t.Fatalf("scan of a bucket that never appears: %+v", s)
		}
	})

	t.Run("served later", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		errorsBefore := apiErrors(ctx, t, js)
		done := make(chan history.Scan)
		go func() { done <- Scan(ctx, url, "n1", "later", 2) }()
		// The bucket is created once the scan's first attempt has failed:
		// the server counts that API error.
		for apiErrors(ctx, t, js) == errorsBefore {
			select {
			case s := <-done:
				t.Fatalf("scan ended before the bucket existed: %+v", s)
			case <-time.After(10 * time.Millisecond):
			}
		}
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "later", History: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"a", "b"} {
			if _, err := kv.Put(ctx, "k", []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		s := <-done
		if s.Err != "" || len(s.Entries) != 2 || s.Retries == 0 || !strings.Contains(s.FirstErr, "not found") {
			t.Fatalf("scan of a bucket created while it tried: %+v", s)
		}
	})
}

// apiErrors is the number of JetStream API requests the server answered
// with an error.
func apiErrors(ctx context.Context, t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	info, err := js.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.API.Errors
}
