package natsserver

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkPubSub measures end-to-end throughput through the server
// with the real client: one publisher, one subscriber, 128-byte bodies.
func BenchmarkPubSub(b *testing.B) {
	s := startServer(b, nil)
	sub := connectNATS(b, s)
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	if _, err := sub.Subscribe("bench", func(*nats.Msg) {
		if got.Add(1) == target {
			close(done)
		}
	}); err != nil {
		b.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	pub := connectNATS(b, s)
	payload := make([]byte, 128)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for range b.N {
		if err := pub.Publish("bench", payload); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
}

// BenchmarkInternalPublish measures Publish fanning out to a client
// subscriber (the JetStream delivery path).
func BenchmarkInternalPublish(b *testing.B) {
	s := startServer(b, nil)
	sub := connectNATS(b, s)
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	if _, err := sub.Subscribe("deliver.>", func(*nats.Msg) {
		if got.Add(1) == target {
			close(done)
		}
	}); err != nil {
		b.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	m := &Msg{Subject: "deliver.x", Reply: "$JS.ACK.s.c.1.1.1.0.0", Data: make([]byte, 128)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := s.Publish(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
}
