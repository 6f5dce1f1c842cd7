package natsproto

import "testing"

func TestConnectDecode(t *testing.T) {
	c := DefaultConnect()
	// The exact CONNECT nats.go sends.
	err := c.Decode([]byte(`{"verbose":false,"pedantic":false,"tls_required":false,"name":"kvprobe","lang":"go",` +
		`"version":"1.53.1","protocol":1,"echo":true,"headers":true,"no_responders":true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Connect{Name: "kvprobe", Lang: "go", Version: "1.53.1", Protocol: 1, Echo: true, Headers: true, NoResponders: true}
	if c != want {
		t.Fatalf("got %+v", c)
	}

	// Absent fields keep their values, as in nats-server.
	c = DefaultConnect()
	if err := c.Decode([]byte(`{"headers":true}`)); err != nil {
		t.Fatal(err)
	}
	if !c.Verbose || !c.Pedantic || !c.Echo || !c.Headers {
		t.Fatalf("merge lost defaults: %+v", c)
	}

	for _, bad := range []string{"", "{bad", `{"verbose":"yes"}`} {
		c := DefaultConnect()
		if err := c.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}
