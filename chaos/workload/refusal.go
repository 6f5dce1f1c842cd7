package workload

import (
	"errors"
	"slices"

	"github.com/cairnkv/cairn/chaos/history"
	"github.com/nats-io/nats.go/jetstream"
)

// Refusals are the JetStream error codes a target answers a write with
// only before it proposed anything: such a write definitely did not
// take effect (history.Fail), and the checker holds the target to that
// (a refused write found in the final history is an anomaly). Every
// other error leaves the outcome unknown.
type Refusals []jetstream.ErrorCode

// CairnRefusals are cairn's: 10023 "insufficient resources", which a
// replica whose disk is below its reserve answers before proposing
// (replication.ErrDiskLow). Its 503 10008 is not among them: it also
// means "the leader changed under the proposal".
var CairnRefusals = Refusals{errCodeInsufficientResources}

// errCodeInsufficientResources is nats-server's
// JSInsufficientResourcesErr (nats.go has no name for it).
const errCodeInsufficientResources jetstream.ErrorCode = 10023

// outcome classifies a write's error: Ok, a definite Fail (a revision
// mismatch of a CAS, or a refusal: refused), or Unknown.
func (r Refusals) outcome(kind string, err error) (res history.Result, refused bool) {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return history.Ok, false
	case kind == history.CAS && errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return history.Fail, false
	case errors.As(err, &apiErr) && slices.Contains(r, apiErr.ErrorCode):
		return history.Fail, true
	}
	return history.Unknown, false
}
