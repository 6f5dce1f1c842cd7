package natsserver

import (
	"bytes"
	"strings"
	"testing"
)

// TestCloseFlushesQueuedReplies: what the server queued for a client
// before Close (here 8 MiB, far more than the socket buffers hold, for a
// client not reading yet) still reaches it before the connection closes,
// so a request answered while the server stopped is not left to time out.
func TestCloseFlushesQueuedReplies(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	rc.send(quietConnect + "SUB out 1\r\nPING\r\n")
	rc.expect("PONG")
	const msgs = 8192
	payload := bytes.Repeat([]byte("x"), 1024)
	for i := 0; i < msgs; i++ {
		if err := s.Publish(&Msg{Subject: "out", Data: payload}); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	rest := rc.untilEOF()
	if got := strings.Count(rest, "MSG out 1 1024\r\n"); got != msgs {
		t.Fatalf("the client got %d of %d messages queued before Close", got, msgs)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}
