package natsproto

import "errors"

// Error is a protocol error found while parsing client input. Every
// Error is fatal for the connection that produced it.
type Error struct {
	msg   string
	reply string
}

func (e *Error) Error() string { return e.msg }

// Protocol errors. Parser errors wrap one of these with detail; test
// them with errors.Is and use ClientText for what to tell the client.
var (
	// ErrUnknownOp is an unknown or misspelled operation, an empty line,
	// or a payload that is not followed by CRLF.
	ErrUnknownOp = &Error{msg: "natsproto: unknown protocol operation", reply: "Unknown Protocol Operation"}
	// ErrMaxControlLine is a control line longer than the limit.
	ErrMaxControlLine = &Error{msg: "natsproto: maximum control line exceeded", reply: "maximum control line exceeded"}
	// ErrMaxPayload is a PUB or HPUB announcing more bytes than allowed.
	ErrMaxPayload = &Error{msg: "natsproto: maximum payload exceeded", reply: "Maximum Payload Violation"}
	// ErrBadArgs is a known operation with malformed arguments (wrong
	// count, bad sizes, header size larger than total). nats-server
	// closes such connections without an -ERR, and so does cairn.
	ErrBadArgs = &Error{msg: "natsproto: malformed protocol arguments"}
	// ErrBadHeader is a header block that does not follow ADR-4.
	ErrBadHeader = &Error{msg: "natsproto: malformed header block"}
)

// ClientText returns the text nats-server puts in `-ERR '<text>'` for
// err, and false when nats-server closes the connection silently (or
// err is not a protocol error).
func ClientText(err error) (string, bool) {
	var pe *Error
	if errors.As(err, &pe) && pe.reply != "" {
		return pe.reply, true
	}
	return "", false
}
