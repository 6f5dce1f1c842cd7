package jetstream

import (
	"reflect"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage/bucket"
)

func TestKeyFilter(t *testing.T) {
	const prefix = "$KV.orders."
	for _, c := range []struct {
		filter string
		want   string
		ok     bool
	}{
		{"", ">", true},
		{">", ">", true},
		{"$KV.orders.>", ">", true},
		{"$KV.orders.eu.*", "eu.*", true},
		{"$KV.orders.a.b", "a.b", true},
		{"$KV.*.a", "a", true},
		{"$KV.>", ">", true},
		{"$KV.other.a", "", false},
		{"$KV.orders", "", false},
		{"foo.bar", "", false},
	} {
		got, ok := keyFilter(prefix, c.filter)
		if got != c.want || ok != c.ok {
			t.Errorf("keyFilter(%q) = %q,%v want %q,%v", c.filter, got, ok, c.want, c.ok)
		}
	}
}

func TestSubjectsOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"$KV.*.>", "$KV.orders.>", true},
		{"$KV.orders.>", "$KV.orders.>", true},
		{"$KV.x.>", "$KV.orders.>", false},
		{"orders.>", "$KV.orders.>", false},
		{"$KV.orders", "$KV.orders.>", false},
		{">", "$KV.orders.>", true},
	} {
		if got := subjectsOverlap(c.a, c.b); got != c.want {
			t.Errorf("subjectsOverlap(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestMapSubject(t *testing.T) {
	for _, c := range []struct {
		src, dest, subject string
		want               string
		ok                 bool
	}{
		{">", "repub.>", "$KV.b.k", "repub.$KV.b.k", true},
		{"$KV.b.>", "copy.>", "$KV.b.eu.1", "copy.eu.1", true},
		{"$KV.b.*", "one.*", "$KV.b.k", "one.k", true},
		{"$KV.b.*", "one.*", "$KV.b.k.deeper", "", false},
		{"$KV.c.>", "x.>", "$KV.b.k", "", false},
	} {
		got, ok := mapSubject(c.src, c.dest, c.subject)
		if got != c.want || ok != c.ok {
			t.Errorf("mapSubject(%q,%q,%q) = %q,%v want %q,%v", c.src, c.dest, c.subject, got, ok, c.want, c.ok)
		}
	}
}

func TestParseTTL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true},
		{"2s", 2 * time.Second, true},
		{"1h", time.Hour, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"never", 0, true},
		{"0", 0, false},
		{"500ms", 0, false},
		{"-3", 0, false},
		{"soon", 0, false},
	} {
		got, err := parseTTL(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parseTTL(%q) = %v, %v", c.in, got, err)
		}
	}
}

func TestParsePublishHeaders(t *testing.T) {
	hdr := func(lines ...string) []byte {
		s := "NATS/1.0\r\n"
		for _, l := range lines {
			s += l + "\r\n"
		}
		return []byte(s + "\r\n")
	}
	for _, c := range []struct {
		name    string
		hdr     []byte
		check   func(p bucket.Publish) bool
		errCode int
	}{
		{"plain put", nil, func(p bucket.Publish) bool { return p.Op == bucket.OpPut && !p.HasExpectKeySeq }, 0},
		{"delete", hdr("KV-Operation: DEL"), func(p bucket.Publish) bool { return p.Op == bucket.OpDelete }, 0},
		{"purge rollup", hdr("KV-Operation: PURGE", "Nats-Rollup: sub"), func(p bucket.Publish) bool {
			return p.Op == bucket.OpPurge && p.Rollup == bucket.RollupKey
		}, 0},
		{"create", hdr("Nats-Expected-Last-Subject-Sequence: 0"), func(p bucket.Publish) bool {
			return p.HasExpectKeySeq && p.ExpectKeySeq == 0
		}, 0},
		{"expected other subject", hdr("Nats-Expected-Last-Subject-Sequence: 4", "Nats-Expected-Last-Subject-Sequence-Subject: $KV.b.other"), func(p bucket.Publish) bool {
			return p.ExpectKeySeq == 4 && p.ExpectKey == "other"
		}, 0},
		{"expected last seq", hdr("Nats-Expected-Last-Sequence: 9"), func(p bucket.Publish) bool {
			return p.HasExpectLastSeq && p.ExpectLastSeq == 9
		}, 0},
		{"ttl", hdr("Nats-TTL: 2s"), func(p bucket.Publish) bool { return p.TTL == int64(2*time.Second) }, 0},
		{"bad ttl", hdr("Nats-TTL: 10ms"), nil, 10165},
		{"bad rollup", hdr("Nats-Rollup: everything"), nil, 10111},
		{"bad expected seq", hdr("Nats-Expected-Last-Subject-Sequence: x"), nil, 10071},
		{"other bucket subject", hdr("Nats-Expected-Last-Subject-Sequence: 1", "Nats-Expected-Last-Subject-Sequence-Subject: $KV.c.k"), nil, 10071},
	} {
		p, aerr := parsePublish("b", "k", c.hdr, []byte("v"))
		switch {
		case c.errCode != 0 && (aerr == nil || aerr.ErrCode != c.errCode):
			t.Errorf("%s: error %v, want err_code %d", c.name, aerr, c.errCode)
		case c.errCode == 0 && aerr != nil:
			t.Errorf("%s: unexpected error %v", c.name, aerr)
		case c.errCode == 0 && !c.check(p):
			t.Errorf("%s: publish %+v", c.name, p)
		}
	}
	if _, aerr := parsePublish("b", ".bad", nil, nil); aerr == nil {
		t.Error("invalid key accepted")
	}
}

// A KV stream config survives the round trip through a bucket config, and
// the server's metadata keys are not stored.
func TestStreamConfigRoundTrip(t *testing.T) {
	in := StreamConfig{
		Name: "KV_orders", Description: "d", Subjects: []string{"$KV.orders.>"}, Retention: "limits",
		MaxBytes: 1 << 20, MaxAge: int64(time.Hour), MaxMsgsPerSubject: 5, MaxMsgSize: 1024,
		Storage: "memory", Replicas: 1, Duplicates: int64(time.Minute), Compression: "s2",
		AllowMsgTTL: true, SubjectDeleteMarkerTTL: int64(5 * time.Second),
		Metadata:  map[string]string{"team": "eu", "_nats.ver": "2.11.0"},
		RePublish: &RePublish{Source: ">", Destination: "repub.>"},
		Placement: &Placement{Tags: []string{"ssd"}},
	}
	bc, aerr := toBucketConfig(&in)
	if aerr != nil {
		t.Fatal(aerr)
	}
	if _, ok := bc.Metadata["_nats.ver"]; ok {
		t.Fatal("server metadata stored")
	}
	out := toStreamConfig(bc)
	if out.Name != in.Name || out.MaxMsgsPerSubject != 5 || out.MaxAge != in.MaxAge || out.Storage != "memory" ||
		out.Compression != "s2" || out.SubjectDeleteMarkerTTL != in.SubjectDeleteMarkerTTL || out.MaxMsgSize != 1024 ||
		!reflect.DeepEqual(out.Subjects, in.Subjects) || out.Metadata["team"] != "eu" || out.Metadata["_nats.req.level"] != "1" ||
		out.RePublish.Destination != "repub.>" || out.Placement.Tags[0] != "ssd" {
		t.Fatalf("round trip changed the config: %+v", out)
	}
	for _, bad := range []StreamConfig{
		{Name: "ORDERS", Subjects: []string{"orders.>"}},
		{Name: "KV_orders", Subjects: []string{"$KV.other.>"}},
		{Name: "KV_orders", Subjects: []string{"$KV.orders.>"}, Retention: "workqueue"},
		{Name: "KV_orders", Mirror: &StreamSource{Name: "KV_x"}},
	} {
		if _, aerr := toBucketConfig(&bad); aerr == nil || aerr.ErrCode != 10052 {
			t.Errorf("config %+v accepted (%v)", bad, aerr)
		}
	}
}
