package history

import (
	"fmt"
	"math"
)

// Kinds of client operation.
const (
	Get = "get" // read the latest value of a key
	Put = "put" // write a value
	CAS = "cas" // write a value if the key's latest revision is Expect
	Add = "add" // the set workload's write of a unique key
)

// Result is what a client knows about an operation's outcome.
type Result uint8

const (
	// Ok: the server answered with success.
	Ok Result = iota
	// Fail: the operation definitely did not take effect (a failed
	// compare-and-set, or a write the target refused: Op.Refused; a key
	// not found is Ok with Found false).
	Fail
	// Unknown: no answer (timeout, connection lost): a write may or may
	// not have been applied, now or later.
	Unknown
)

func (r Result) String() string {
	switch r {
	case Ok:
		return "ok"
	case Fail:
		return "fail"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("result(%d)", r)
}

// Never is the return time of an operation whose outcome is unknown: it
// may take effect at any time after its call.
const Never = math.MaxInt64

// Op is one client operation.
type Op struct {
	Client int    // client number, from 0; one operation at a time each
	Bucket string // bucket name
	Kind   string // Get, Put, CAS or Add
	Key    string
	Value  string // value written (unique per run), or read (Get)
	Expect uint64 // CAS: the revision the key must have
	Call   int64  // when the client sent it (ns on the run's clock)
	Return int64  // when the answer came (Never if Unknown)
	Result Result
	// Rev is the revision a write was stored at, or that a read found.
	Rev uint64
	// Found is false for a Get of a missing key.
	Found bool
	// Node is the node the client was connected to (-1: unknown).
	Node int
	// Err is the error text of a failed or unknown operation.
	Err string
	// Refused: a Fail the target answered before doing anything (see
	// workload.Refusals), which says nothing about the key's state,
	// unlike a compare-and-set's wrong revision.
	Refused bool `json:",omitempty"`
}

// Inert reports whether the operation definitely did nothing and tells
// nothing about the state: a refused write, or a failed read.
func (o Op) Inert() bool {
	return o.Result == Fail && (o.Refused || o.Kind != CAS)
}

// IsWrite reports whether the operation changes the bucket.
func (o Op) IsWrite() bool { return o.Kind != Get }

func (o Op) String() string {
	ret := "∞"
	if o.Return != Never {
		ret = fmt.Sprint(o.Return)
	}
	s := fmt.Sprintf("client %d %s %s/%s", o.Client, o.Kind, o.Bucket, o.Key)
	switch o.Kind {
	case Put, Add:
		s += fmt.Sprintf(" %q", o.Value)
	case CAS:
		s += fmt.Sprintf(" %q if rev %d", o.Value, o.Expect)
	}
	s += fmt.Sprintf(" [%d, %s] → %s", o.Call, ret, o.Result)
	switch {
	case o.Result == Ok && o.Kind == Get && !o.Found:
		s += " (not found)"
	case o.Result == Ok && o.Kind == Get:
		s += fmt.Sprintf(" %q rev %d", o.Value, o.Rev)
	case o.Result == Ok:
		s += fmt.Sprintf(" rev %d", o.Rev)
	case o.Err != "":
		s += " (" + o.Err + ")"
	}
	return s
}
