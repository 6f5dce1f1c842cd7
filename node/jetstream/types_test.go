package jetstream

import (
	"encoding/json"
	"testing"
)

// TestPubAckJSON holds the hand-written acknowledgement to what
// encoding/json writes for the same value, and checks that it leaves
// what it cannot write to encoding/json.
func TestPubAckJSON(t *testing.T) {
	tests := []struct {
		ack  PubAck
		fast bool
	}{
		{PubAck{Stream: "KV_orders", Sequence: 1}, true},
		{PubAck{Stream: "KV_a-b_C9", Sequence: 18446744073709551615}, true},
		{PubAck{Stream: "KV_x", Sequence: 7, Duplicate: true}, true},
		{PubAck{Stream: "", Sequence: 0}, true},
		{PubAck{Stream: `KV_"q"`, Sequence: 2}, false},
		{PubAck{Stream: "KV_<b>&", Sequence: 2}, false},
		{PubAck{Stream: "KV_é", Sequence: 2}, false},
		{PubAck{Stream: "KV_\x01", Sequence: 2}, false},
		{PubAck{Stream: "KV_x", Error: &APIError{Code: 503, ErrCode: 10077, Description: "maximum messages exceeded"}}, false},
	}
	for _, tc := range tests {
		want, err := json.Marshal(tc.ack)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := tc.ack.appendJSON([]byte("prefix"))
		if ok != tc.fast {
			t.Errorf("%+v: fast path %v, want %v", tc.ack, ok, tc.fast)
			continue
		}
		if !ok {
			if string(got) != "prefix" {
				t.Errorf("%+v: refused but appended %q", tc.ack, got)
			}
			continue
		}
		if string(got) != "prefix"+string(want) {
			t.Errorf("%+v:\n got %s\nwant prefix%s", tc.ack, got, want)
		}
	}
}

func BenchmarkPubAckJSON(b *testing.B) {
	ack := PubAck{Stream: "KV_bench", Sequence: 123456789}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = ack.appendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(ack)
		}
	})
}
