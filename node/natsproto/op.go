package natsproto

// OpKind identifies a client→server operation.
type OpKind uint8

// Client operations the parser produces.
const (
	OpConnect OpKind = iota + 1
	OpPing
	OpPong
	OpPub
	OpHPub
	OpSub
	OpUnsub
)

var opNames = [...]string{
	OpConnect: "CONNECT",
	OpPing:    "PING",
	OpPong:    "PONG",
	OpPub:     "PUB",
	OpHPub:    "HPUB",
	OpSub:     "SUB",
	OpUnsub:   "UNSUB",
}

func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return "UNKNOWN"
}

// Op is one parsed client operation. Its byte slices alias the parser's
// input or internal buffers and are valid only until the callback that
// received the Op returns; copy what must outlive it.
type Op struct {
	Kind OpKind

	// Subject is the PUB/HPUB subject or the SUB subject.
	Subject []byte
	// Reply is the optional PUB/HPUB reply subject.
	Reply []byte
	// Queue is the optional SUB queue group.
	Queue []byte
	// SID is the SUB/UNSUB subscription id.
	SID []byte
	// Max is the UNSUB auto-unsubscribe count. Zero or less means
	// "unsubscribe now" (absent, 0 or unparsable, as in nats-server).
	Max int

	// Header is the raw HPUB header block (nil for PUB).
	Header []byte
	// Payload is the message body after the header block.
	Payload []byte

	// JSON is the CONNECT argument, whitespace-trimmed, not validated.
	JSON []byte
}
