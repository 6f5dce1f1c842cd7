package measure

import "time"

// Pacer fixes the intended start times of one open-loop client: the n-th
// operation (from 0) is due at start + phase + n·interval, whether or not
// the previous one has returned. A client that falls behind issues its
// overdue operations back to back, and each is measured from its own due
// time, so a stall shows up in every operation it delays.
//
// A zero interval makes a closed-loop pacer: every operation is due when
// it is asked for.
type Pacer struct {
	start    time.Time
	interval time.Duration
	n        int64
}

// NewPacer returns a pacer whose first operation is due at start+phase.
func NewPacer(start time.Time, interval, phase time.Duration) *Pacer {
	return &Pacer{start: start.Add(phase), interval: interval}
}

// Open reports whether the pacer is open loop.
func (p *Pacer) Open() bool { return p.interval > 0 }

// Next returns the due time of the next operation; now is used in closed
// loop.
func (p *Pacer) Next(now time.Time) time.Time {
	if p.interval <= 0 {
		return now
	}
	due := p.start.Add(time.Duration(p.n) * p.interval)
	p.n++
	return due
}

// ClientPacing splits a total target rate over clients: each client runs
// at rate/clients with its own phase so that the clients' operations
// interleave evenly instead of arriving in bursts. rate <= 0 means closed
// loop.
func ClientPacing(rate float64, clients, client int) (interval, phase time.Duration) {
	if rate <= 0 || clients <= 0 {
		return 0, 0
	}
	interval = time.Duration(float64(clients) / rate * float64(time.Second))
	phase = interval * time.Duration(client) / time.Duration(clients)
	return interval, phase
}
