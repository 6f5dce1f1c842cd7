package bucket

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameCommand compares commands by meaning: a nil and an empty byte
// slice are the same, and configs are compared by their JSON form (an
// empty map or list reads back as nil).
func sameCommand(a, b *Command) bool {
	if a.Kind != b.Kind || a.Time != b.Time || a.Purge != b.Purge || len(a.Pubs) != len(b.Pubs) {
		return false
	}
	for i := range a.Pubs {
		p, q := a.Pubs[i], b.Pubs[i]
		if !bytes.Equal(p.Header, q.Header) || !bytes.Equal(p.Data, q.Data) {
			return false
		}
		p.Header, p.Data, q.Header, q.Data = nil, nil, nil, nil
		if !reflect.DeepEqual(p, q) {
			return false
		}
	}
	if a.Restore.SetLast != b.Restore.SetLast || a.Restore.LastTime != b.Restore.LastTime || len(a.Restore.Msgs) != len(b.Restore.Msgs) {
		return false
	}
	for i := range a.Restore.Msgs {
		p, q := a.Restore.Msgs[i], b.Restore.Msgs[i]
		if !bytes.Equal(p.Header, q.Header) || !bytes.Equal(p.Data, q.Data) {
			return false
		}
		p.Header, p.Data, q.Header, q.Data = nil, nil, nil, nil
		if !reflect.DeepEqual(p, q) {
			return false
		}
	}
	if (a.Config == nil) != (b.Config == nil) {
		return false
	}
	if a.Config != nil {
		ja, _ := json.Marshal(a.Config)
		jb, _ := json.Marshal(b.Config)
		return bytes.Equal(ja, jb)
	}
	return true
}

func TestCommandRoundTrip(t *testing.T) {
	full := Config{
		Name: "orders", Description: "all the orders", History: 64, MaxAge: time.Hour,
		MaxBytes: 1 << 30, MaxValueSize: 1 << 20, Storage: MemoryStorage, Replicas: 3, Compression: true,
		Placement:   &Placement{Cluster: "eu", Tags: []string{"ssd", "zone-a"}},
		Metadata:    map[string]string{"owner": "team-a", "": "empty key"},
		RePublish:   &RePublish{Source: ">", Destination: "repub.>", HeadersOnly: true},
		AllowMsgTTL: true, MarkerTTL: 5 * time.Second, DuplicateWindow: 2 * time.Minute,
		AllowRollup: true, DenyDelete: true, DenyPurge: true, AllowDirect: true, DiscardNew: true,
	}
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	cases := []struct {
		name string
		cmd  Command
	}{
		{"noop", Command{Kind: KindNoop, Time: 1}},
		{"noop at time zero", Command{Kind: KindNoop}},
		{"expire, negative time", Command{Kind: KindExpire, Time: -1}},
		{"expire, extreme times", Command{Kind: KindExpire, Time: -1 << 63}},
		{"expire, max time", Command{Kind: KindExpire, Time: 1<<63 - 1}},
		{"put", Command{Kind: KindPublish, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano(),
			Pubs: []Publish{{Key: "a.b.c", Data: []byte("value")}}}},
		{"put, empty value", Command{Kind: KindPublish, Time: 5, Pubs: []Publish{{Key: "k"}}}},
		{"put, binary value and header", Command{Kind: KindPublish, Time: 5, Pubs: []Publish{{
			Key: "bin", Header: []byte("NATS/1.0\r\nX: \x00\xff\r\n\r\n"), Data: bin}}}},
		{"put, large value", Command{Kind: KindPublish, Time: 5, Pubs: []Publish{{
			Key: "big", Data: bytes.Repeat([]byte("x"), 1<<20+3)}}}},
		{"delete", Command{Kind: KindPublish, Time: 9, Pubs: []Publish{{Key: "k", Op: OpDelete, Header: []byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n")}}}},
		{"purge with rollup and ttl", Command{Kind: KindPublish, Time: 9, Pubs: []Publish{{
			Key: "k", Op: OpPurge, Rollup: RollupKey, TTL: int64(time.Hour)}}}},
		{"marker with rollup all, negative ttl", Command{Kind: KindPublish, Pubs: []Publish{{
			Key: "k", Op: OpMarker, Rollup: RollupAll, TTL: -1}}}},
		{"create (expect no value)", Command{Kind: KindPublish, Time: 1, Pubs: []Publish{{
			Key: "k", Data: []byte("v"), ExpectNoValue: true}}}},
		{"update (expect key seq 0)", Command{Kind: KindPublish, Time: 1, Pubs: []Publish{{
			Key: "k", HasExpectKeySeq: true}}}},
		{"every expectation", Command{Kind: KindPublish, Time: 1, Pubs: []Publish{{
			Key: "k", HasExpectKeySeq: true, ExpectKeySeq: 1<<64 - 1, ExpectKey: "other.key",
			HasExpectLastSeq: true, ExpectLastSeq: 12345, ExpectNoValue: true}}}},
		{"expected values without their flags", Command{Kind: KindPublish, Time: 1, Pubs: []Publish{{
			Key: "k", ExpectKeySeq: 7, ExpectLastSeq: 8}}}},
		{"batch", Command{Kind: KindPublish, Time: 1, Pubs: []Publish{
			{Key: "a", Data: []byte("1")},
			{Key: "b", Op: OpDelete},
			{Key: "c", Data: []byte("3"), HasExpectKeySeq: true, ExpectKeySeq: 2},
			{Key: "unicode.ключ", Data: []byte("✓")},
		}}},
		{"empty batch", Command{Kind: KindPublish, Time: 1, Pubs: []Publish{}}},
		{"purge all", Command{Kind: KindPurge, Time: 3}},
		{"purge filter keep", Command{Kind: KindPurge, Time: 3, Purge: PurgeRequest{Filter: "a.*.>", Keep: 5}}},
		{"purge seq", Command{Kind: KindPurge, Time: 3, Purge: PurgeRequest{Filter: "k", Seq: 1<<64 - 1}}},
		{"set config, minimal", Command{Kind: KindSetConfig, Time: 4, Config: &Config{Name: "b"}}},
		{"set config, full", Command{Kind: KindSetConfig, Time: 4, Config: &full}},
		{"restore, empty", Command{Kind: KindRestore, Time: 4}},
		{"restore, set last only", Command{Kind: KindRestore, Time: 4, Restore: Restore{SetLast: 1<<64 - 1}}},
		{"restore, messages", Command{Kind: KindRestore, Time: 4, Restore: Restore{SetLast: 90, LastTime: -3, Msgs: []Msg{
			{Seq: 3, Key: "a.b", Data: []byte("v"), Time: 17},
			{Seq: 7, Key: "bin", Op: OpDelete, Header: []byte("NATS/1.0\r\nX: \x00\xff\r\n\r\n"), Data: bin, Time: -5, TTL: int64(time.Hour)},
			{Seq: 1<<64 - 1, Key: "m", Op: OpMarker, Time: 1<<63 - 1, TTL: -1},
		}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.cmd.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := DecodeCommand(data)
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			if !sameCommand(&tc.cmd, got) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.cmd)
			}
			if tc.cmd.Config != nil && !reflect.DeepEqual(*tc.cmd.Config, *got.Config) {
				t.Fatalf("config round trip:\n got %+v\nwant %+v", *got.Config, *tc.cmd.Config)
			}
			// Encoding is deterministic: replicas encode alike.
			again, err := got.Encode()
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("re-encoding differs (%v)", err)
			}
			// Every strict prefix is rejected, never misread: every field
			// is required, so a truncated entry cannot look complete.
			for n := 0; n < len(data); n += 1 + n/64 {
				if c, err := DecodeCommand(data[:n]); err == nil {
					t.Fatalf("prefix of %d/%d bytes decoded as %+v", n, len(data), c)
				}
			}
		})
	}
}

func TestDecodeCommandRejects(t *testing.T) {
	ok, err := (&Command{Kind: KindPublish, Time: 1, Pubs: []Publish{{Key: "k", Data: []byte("v")}}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"kind zero", []byte{0, 0}},
		{"unknown kind", []byte{99, 0}},
		{"kind without time", []byte{byte(KindNoop)}},
		{"overlong time varint", append([]byte{byte(KindNoop)}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"publish count beyond the data", []byte{byte(KindPublish), 0, 0xff, 0xff, 0x03}},
		{"publish count huge", append([]byte{byte(KindPublish), 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"truncated publish", ok[:len(ok)-1]},
		{"value length beyond the data", []byte{byte(KindPublish), 0, 1, 0, 0, 0, 1, 'k', 0, 0x7f}},
		{"config not JSON", append([]byte{byte(KindSetConfig), 0, 3}, "{x}"...)},
		{"config of the wrong JSON type", append([]byte{byte(KindSetConfig), 0, 2}, "[]"...)},
		{"purge without counters", append([]byte{byte(KindPurge), 0, 1}, 'a')},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeCommand(tc.data)
			if err == nil {
				t.Fatalf("decoded %+v", c)
			}
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("error %v does not wrap errBadCommand", err)
			}
		})
	}
}

func TestEncodeRejectsUnknownKind(t *testing.T) {
	for _, k := range []Kind{0, 7, 255} {
		if _, err := (&Command{Kind: k}).Encode(); err == nil {
			t.Errorf("kind %d encoded", k)
		}
	}
}

func TestMatchFilter(t *testing.T) {
	cases := []struct {
		filter, key string
		want        bool
	}{
		{"", "a", true},
		{"", "a.b.c", true},
		{">", "a", true},
		{">", "a.b.c", true},
		{"a", "a", true},
		{"a", "b", false},
		{"a", "a.b", false},
		{"a.b", "a", false},
		{"a.b", "a.b", true},
		{"a.b", "a.bc", false},
		{"a.b", "ab", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{"*.b", "a.b", true},
		{"*.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
		{"*.*", "a.b", true},
		{"*.*", "a.b.c", false},
		{"a.>", "a", false},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c.d", true},
		{"a.>", "b.c", false},
		{"*.>", "a", false},
		{"*.>", "a.b", true},
		{"a.*.>", "a.b", false},
		{"a.*.>", "a.b.c", true},
		{"a*", "a*", true},  // '*' inside a token is a literal
		{"a*", "ab", false}, // ... not a wildcard
		{"a>", "a>", true},  // likewise '>'
		{"a.b>", "a.bc", false},
		{"ä.*", "ä.x", true},
		{"orders.eu.>", "orders.eu.1234", true},
		{"orders.eu.>", "orders.us.1234", false},
		{"orders.*.1234", "orders.eu.1234", true},
	}
	for _, tc := range cases {
		if got := MatchFilter(tc.filter, tc.key); got != tc.want {
			t.Errorf("MatchFilter(%q, %q) = %v, want %v", tc.filter, tc.key, got, tc.want)
		}
		if tc.filter != "" && tc.want != refMatch(tc.filter, tc.key) {
			t.Errorf("reference disagrees on (%q, %q)", tc.filter, tc.key)
		}
	}
}

func TestMatchAny(t *testing.T) {
	cases := []struct {
		filters []string
		key     string
		want    bool
	}{
		{nil, "a", true},
		{[]string{}, "a.b", true},
		{[]string{"a"}, "a", true},
		{[]string{"b", "a.*"}, "a.x", true},
		{[]string{"b", "a.*"}, "a", false},
		{[]string{"b", "c.>"}, "a", false},
	}
	for _, tc := range cases {
		if got := MatchAny(tc.filters, tc.key); got != tc.want {
			t.Errorf("MatchAny(%q, %q) = %v, want %v", tc.filters, tc.key, got, tc.want)
		}
	}
}

func TestLiteralPrefix(t *testing.T) {
	cases := []struct {
		filter  string
		prefix  string
		literal bool
	}{
		{"", "", false},
		{">", "", false},
		{"*", "", false},
		{"a", "a", true},
		{"a.b.c", "a.b.c", true},
		{"a.*", "a.", false},
		{"a.>", "a.", false},
		{"a.b.*.d", "a.b.", false},
		{"a.b.>", "a.b.", false},
		{"*.b", "", false},
		{"a*", "a*", true},
		{"a.b*", "a.b*", true},
		{"a.>b", "a.>b", true},
		{"a.b.", "a.b.", true},
	}
	for _, tc := range cases {
		p, lit := literalPrefix(tc.filter)
		if p != tc.prefix || lit != tc.literal {
			t.Errorf("literalPrefix(%q) = %q, %v; want %q, %v", tc.filter, p, lit, tc.prefix, tc.literal)
		}
	}
}

// refMatch is a reference implementation of NATS subject matching for
// well-formed filters ('>' only last, no empty tokens).
func refMatch(filter, key string) bool {
	if filter == "" {
		return true
	}
	ft, kt := strings.Split(filter, "."), strings.Split(key, ".")
	for i, f := range ft {
		if f == ">" {
			return len(kt) > i
		}
		if i >= len(kt) || (f != "*" && f != kt[i]) {
			return false
		}
	}
	return len(ft) == len(kt)
}

// wellFormed reports whether filter and key are shaped like the ones the
// node validates: no empty tokens, '>' only as the last filter token, no
// wildcards in keys.
func wellFormed(filter, key string) bool {
	if filter == "" || key == "" {
		return false
	}
	ft := strings.Split(filter, ".")
	for i, f := range ft {
		if f == "" || (f == ">" && i != len(ft)-1) {
			return false
		}
	}
	for _, k := range strings.Split(key, ".") {
		if k == "" || k == "*" || k == ">" {
			return false
		}
	}
	return true
}
