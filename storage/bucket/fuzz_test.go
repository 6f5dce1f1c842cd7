package bucket

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeCommand: decoding arbitrary bytes (a damaged raft entry, say)
// never panics; whatever decodes re-encodes to a canonical form that
// decodes to the same command and encodes to the same bytes again.
func FuzzDecodeCommand(f *testing.F) {
	seeds := []Command{
		{Kind: KindNoop, Time: 1},
		{Kind: KindExpire, Time: time.Now().UnixNano()},
		{Kind: KindPublish, Time: 7, Pubs: []Publish{{Key: "a.b", Data: []byte("v")}}},
		{Kind: KindPublish, Time: 7, Pubs: []Publish{
			{Key: "a", Op: OpDelete, Header: []byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n")},
			{Key: "b", Op: OpPurge, Rollup: RollupKey, TTL: int64(time.Minute), HasExpectKeySeq: true, ExpectKeySeq: 3},
			{Key: "c", ExpectNoValue: true, HasExpectLastSeq: true, ExpectLastSeq: 9, ExpectKey: "d"},
		}},
		{Kind: KindPurge, Time: 2, Purge: PurgeRequest{Filter: "a.>", Keep: 1, Seq: 5}},
		{Kind: KindSetConfig, Time: 3, Config: &Config{Name: "b", History: 5, MaxAge: time.Hour,
			Placement: &Placement{Tags: []string{"x"}}, Metadata: map[string]string{"k": "v"}}},
		{Kind: KindRestore, Time: 4, Restore: Restore{SetLast: 9, LastTime: 8, Msgs: []Msg{
			{Seq: 2, Key: "a", Data: []byte("v"), Time: 5},
			{Seq: 4, Key: "b", Op: OpMarker, Header: []byte("NATS/1.0\r\n\r\n"), Time: 6, TTL: 1},
		}}},
	}
	for i := range seeds {
		data, err := seeds[i].Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{byte(KindPublish), 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{byte(KindSetConfig), 0, 4, 'n', 'u', 'l', 'l'})
	f.Fuzz(func(t *testing.T, data []byte) {
		c1, err := DecodeCommand(data)
		if err != nil {
			return
		}
		b1, err := c1.Encode()
		if err != nil {
			t.Fatalf("decoded command does not encode: %v\n%+v", err, c1)
		}
		c2, err := DecodeCommand(b1)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v\n%+v", err, c1)
		}
		if !sameCommand(c1, c2) {
			t.Fatalf("round trip changed the command:\n%+v\n%+v", c1, c2)
		}
		b2, err := c2.Encode()
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not canonical (%v):\n%x\n%x", err, b1, b2)
		}
		// The canonical encoding is never longer than the input: decoding
		// only drops (trailing bytes, JSON spacing), never invents.
		if c1.Kind != KindSetConfig && len(b1) > len(data) {
			t.Fatalf("canonical form is longer than the input: %d > %d", len(b1), len(data))
		}
	})
}

// FuzzMatchFilter checks MatchFilter against literalPrefix (every match
// has the literal prefix; a literal filter matches only itself) and, for
// well-formed filters and keys, against a reference implementation.
func FuzzMatchFilter(f *testing.F) {
	for _, s := range [][2]string{
		{"a.b", "a.b"}, {"a.*", "a.b"}, {"a.>", "a.b.c"}, {"*.b", "a.b"}, {">", "x"},
		{"a.*.c", "a.b.d"}, {"a*", "ab"}, {"", "a"}, {"a..b", "a..b"}, {"a.>.c", "a.b.c"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, key string) {
		m := MatchFilter(filter, key)
		prefix, literal := literalPrefix(filter)
		if m && !strings.HasPrefix(key, prefix) {
			t.Fatalf("MatchFilter(%q, %q) but key lacks the literal prefix %q", filter, key, prefix)
		}
		if literal && m != (filter == key) {
			t.Fatalf("literal filter %q: MatchFilter(%q) = %v", filter, key, m)
		}
		if !literal && prefix != "" && (!strings.HasPrefix(filter, prefix) || !strings.HasSuffix(prefix, ".")) {
			t.Fatalf("literalPrefix(%q) = %q: not a token prefix", filter, prefix)
		}
		if wellFormed(filter, key) && m != refMatch(filter, key) {
			t.Fatalf("MatchFilter(%q, %q) = %v, reference says %v", filter, key, m, !m)
		}
		if MatchAny([]string{filter}, key) != m {
			t.Fatalf("MatchAny disagrees with MatchFilter on (%q, %q)", filter, key)
		}
	})
}
