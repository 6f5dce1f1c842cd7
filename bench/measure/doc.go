// Package measure records operation latencies into HDR histograms and
// paces open-loop clients.
//
// Latency is recorded in microseconds, 1 µs to 1 hour at 3 significant
// digits (as go-ycsb does). Each worker owns a Recorder; HDR histograms are
// not safe for concurrent use, so a Recorder guards its own with a mutex
// that only the progress reader ever contends for, and summaries merge
// the workers' histograms.
//
// Coordinated omission: a closed-loop client only sends its next request
// when the previous one returns, so a stalled server also stalls the load
// and the stall is recorded once instead of for every request that would
// have been sent meanwhile. In open-loop mode a Pacer fixes every
// operation's intended start time in advance and latency is measured from
// it, not from when the request was actually sent; the time actually
// spent in the request is kept separately as service time.
//
// measure does no I/O and knows nothing about targets or workloads.
package measure
