package membership

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	in := testMeta(0xdeadbeef)
	b, err := encodeMeta(in, false)
	if err != nil {
		t.Fatal(err)
	}
	out, leaving, err := decodeMeta(NodeName(in.ID), b)
	if err != nil {
		t.Fatal(err)
	}
	if leaving {
		t.Fatal("leaving flag set")
	}
	if out.ID != in.ID || out.Name != in.Name || out.ClientAddr != in.ClientAddr ||
		out.HTTPAddr != in.HTTPAddr || out.PeerAddr != in.PeerAddr || out.Version != in.Version ||
		out.Tags["zone"] != in.Tags["zone"] || len(out.Tags) != len(in.Tags) {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
	if NodeName(0xdeadbeef) != "00000000deadbeef" {
		t.Fatalf("NodeName = %q", NodeName(0xdeadbeef))
	}
	// The full uint64 range survives JSON.
	big := Meta{ID: ^uint64(0)}
	b, _ = encodeMeta(big, false)
	if got, _, err := decodeMeta(NodeName(big.ID), b); err != nil || got.ID != big.ID {
		t.Fatalf("max ID: %v %v", got.ID, err)
	}
}

func TestMetaLimits(t *testing.T) {
	if _, err := encodeMeta(Meta{}, false); err == nil {
		t.Fatal("ID 0 accepted")
	}
	m := testMeta(1)
	m.Tags = map[string]string{"big": strings.Repeat("x", MaxMetaSize)}
	if _, err := encodeMeta(m, false); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized meta: %v", err)
	}
	// Whatever fits without the leaving flag also fits with it.
	for n := 350; n < MaxMetaSize; n++ {
		m.Tags = map[string]string{"t": strings.Repeat("x", n)}
		if _, err := encodeMeta(m, false); err != nil {
			break
		}
		if b, err := encodeMeta(m, true); err != nil || len(b) > MaxMetaSize {
			t.Fatalf("tag of %d bytes: fits without the leaving flag, not with it (%d bytes, %v)", n, len(b), err)
		}
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	good, _ := encodeMeta(testMeta(7), true)
	for name, c := range map[string]struct {
		node string
		b    []byte
	}{
		"garbage":       {NodeName(7), []byte{0xff, 0x00, 0x13}},
		"empty":         {NodeName(7), nil},
		"no version":    {NodeName(7), []byte(`{"id":7}`)},
		"zero id":       {NodeName(0), []byte(`{"v":1,"id":0}`)},
		"other node ID": {NodeName(8), good},
		"wrong type":    {NodeName(7), []byte(`{"v":1,"id":"seven"}`)},
	} {
		if _, _, err := decodeMeta(c.node, c.b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A later version with extra fields is accepted; the leaving flag
	// decodes.
	if _, _, err := decodeMeta(NodeName(7), []byte(`{"v":2,"id":7,"future":true}`)); err != nil {
		t.Errorf("future version: %v", err)
	}
	if _, leaving, err := decodeMeta(NodeName(7), good); err != nil || !leaving {
		t.Errorf("leaving flag: %v %v", leaving, err)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, c := range map[string]struct {
		mut  func(*Config)
		want string
	}{
		"zero id":    {func(c *Config) { c.Meta.ID = 0 }, "ID"},
		"bad bind":   {func(c *Config) { c.BindAddr = "nope" }, "BindAddr"},
		"bad port":   {func(c *Config) { c.BindAddr = "127.0.0.1:99999" }, "port"},
		"profile":    {func(c *Config) { c.Profile = "mars" }, "profile"},
		"key length": {func(c *Config) { c.SecretKey = make([]byte, 10) }, "16, 24 or 32"},
		"advertise":  {func(c *Config) { c.AdvertiseAddr = "host.example:1" }, "IP"},
		"huge meta":  {func(c *Config) { c.Meta.Tags = map[string]string{"x": strings.Repeat("y", 600)} }, "limit"},
		"empty bind": {func(c *Config) { c.BindAddr = "" }, "BindAddr"},
	} {
		cfg := testConfig(1)
		c.mut(&cfg)
		cfg.Logger = slog.New(slog.DiscardHandler)
		m, err := Start(cfg)
		if err == nil {
			m.Close()
			t.Errorf("%s: Start succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.want)
		}
	}
	cfg := testConfig(1)
	cfg.SecretKey = make([]byte, 10)
	if _, err := Start(cfg); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "10 bytes") {
		t.Errorf("bad key: %v", err)
	}
	if d := DefaultConfig(); d.Profile != ProfileLAN || d.BindAddr != "0.0.0.0:7946" {
		t.Errorf("DefaultConfig = %+v", d)
	}
}

func TestParseLogLine(t *testing.T) {
	for _, c := range []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=1.2.3.4:5", slog.LevelDebug, "Stream connection from=1.2.3.4:5"},
		{"[INFO] memberlist: Marking x as failed", slog.LevelInfo, "Marking x as failed"},
		{"[WARN] memberlist: Refuting", slog.LevelWarn, "Refuting"},
		{"[ERR] memberlist: Failed to send", slog.LevelError, "Failed to send"},
		{"[ERROR] something", slog.LevelError, "something"},
		{"[TRACE] memberlist: x", slog.LevelDebug, "x"},
		{"no level here", slog.LevelInfo, "no level here"},
		{"[weird] thing", slog.LevelInfo, "[weird] thing"},
		{"[unterminated", slog.LevelInfo, "[unterminated"},
	} {
		level, msg := parseLogLine(c.line)
		if level != c.level || msg != c.msg {
			t.Errorf("parseLogLine(%q) = %v %q, want %v %q", c.line, level, msg, c.level, c.msg)
		}
	}
}

func TestLogWriter(t *testing.T) {
	logs := &logStore{}
	var suspected []string
	w := &logWriter{log: slog.New(storeHandler{store: logs}), onSuspect: func(n string) { suspected = append(suspected, n) }}
	in := "[WARN] memberlist: one\n\n[INFO] memberlist: Suspect 0000000000000003 has failed, no acks received\n"
	if n, err := w.Write([]byte(in)); n != len(in) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if logs.count("WARN one") != 1 || logs.count("INFO Suspect 0000000000000003") != 1 || len(logs.lines) != 2 {
		t.Fatalf("logged %q", logs.lines)
	}
	if len(suspected) != 1 || suspected[0] != "0000000000000003" {
		t.Fatalf("suspected %q", suspected)
	}
	for _, msg := range []string{"Suspect  has failed, no acks received", "Suspect a b has failed, no acks received", "Suspect x"} {
		if _, ok := suspectedNode(msg); ok {
			t.Errorf("suspectedNode(%q) matched", msg)
		}
	}
}

func TestEventsDropOldest(t *testing.T) {
	v := newView()
	const extra = 10
	var lastDropped uint64
	for i := range eventBuffer + extra {
		if _, _, d := v.alive(NodeName(uint64(i+1)), Meta{ID: uint64(i + 1)}, false, ""); d > 0 {
			lastDropped = d
		}
	}
	if lastDropped != extra {
		t.Fatalf("dropped %d, want %d", lastDropped, extra)
	}
	if len(v.events) != eventBuffer {
		t.Fatalf("buffered %d", len(v.events))
	}
	first := <-v.events
	if first.Member.ID != extra+1 {
		t.Fatalf("oldest kept event is for %d, want %d", first.Member.ID, extra+1)
	}
	v.close()
	n := 1
	var last Event
	for ev := range v.events {
		last = ev
		n++
	}
	if n != eventBuffer || last.Member.ID != eventBuffer+extra {
		t.Fatalf("drained %d, last %d", n, last.Member.ID)
	}
	// Publishing after close neither panics nor blocks.
	v.alive("x", Meta{ID: 1}, false, "")
	v.gone("x")
}

func TestClusterNameLabel(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"", "cairn"},
		{"prod", "cairn/prod"},
	} {
		if got := label(tc.name); got != tc.want {
			t.Errorf("label(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	cfg := testConfig(1)
	cfg.Cluster = strings.Repeat("x", maxClusterName+1)
	if err := cfg.validate(); err == nil {
		t.Fatal("an over-long cluster name was accepted")
	}
}
