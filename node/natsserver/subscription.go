package natsserver

import "sync/atomic"

// subscription is one client SUB or one in-process Subscribe. Its
// identity fields never change after creation.
type subscription struct {
	subject string
	queue   string
	sid     string

	client   *client      // set for client subscriptions
	internal *internalSub // set for in-process subscriptions

	// max is the UNSUB auto-unsubscribe count (0: none); delivered
	// counts messages handed to the subscriber.
	max       atomic.Int64
	delivered atomic.Int64
}

// take accounts one delivery and reports whether it may proceed, and
// whether it was the last one allowed by an auto-unsubscribe count.
func (sub *subscription) take() (ok, last bool) {
	n := sub.delivered.Add(1)
	max := sub.max.Load()
	if max <= 0 {
		return true, false
	}
	return n <= max, n == max
}
