package history

// Operations on a key as a watch or a scan reports them.
const (
	OpPut   = "PUT"
	OpDel   = "DEL"
	OpPurge = "PURGE"
)

// Entry is one revision of a bucket: what a watch delivers and what the
// final scan lists.
type Entry struct {
	Rev   uint64
	Key   string
	Value string
	Op    string // OpPut, OpDel or OpPurge
}

// Event is an entry a watcher received, and when.
type Event struct {
	Entry
	Time    int64 // on the run's clock
	Session int   // which (re)start of the watch delivered it, from 0
}

// Session is one start of a watch: the first one, or a resume after the
// watch broke (node failure, stall).
type Session struct {
	// From is the first revision asked for (ResumeFromRevision), 0 for a
	// watch of the whole history.
	From uint64
	// Time is when it started; Node the node it was opened on.
	Time int64
	Node int
}

// Stream is everything one watcher saw.
type Stream struct {
	Watcher  int
	Bucket   string
	Filter   string // NATS KV key filter, with * and >
	Sessions []Session
	Events   []Event
	// Stalled is set when the watcher never reached the revision it had
	// to reach by the end of the run.
	Stalled bool
}

// Scan is a bucket's full history as one node served it at the end.
type Scan struct {
	Node    string
	Bucket  string
	Entries []Entry // in the order received
	// Err says why the scan is incomplete ("" when it reached Until).
	Err string
	// Until is the revision the scan had to reach.
	Until uint64
	// Unreachable is set when the node could not be connected to at all
	// (a node of an external cluster left down): it is not judged.
	Unreachable bool
	// Retries counts the failed attempts to open the scan (bind the
	// bucket, start the watch) before it opened, and FirstErr is the
	// first of their errors: the node could not serve the bucket at
	// once after the last fault healed.
	Retries  int
	FirstErr string
}
