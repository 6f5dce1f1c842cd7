package workload

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/chaos/history"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A write's error decides its outcome: only a CAS's revision mismatch
// and the target's refusals are definite failures; everything else
// (timeouts, lost connections, 503 10008, refusals of targets that do
// not declare them) is unknown.
func TestRefusalsOutcome(t *testing.T) {
	apiErr := func(status int, code jetstream.ErrorCode) error {
		return fmt.Errorf("nats: %w", &jetstream.APIError{Code: status, ErrorCode: code, Description: "x"})
	}
	for _, tc := range []struct {
		name     string
		refusals Refusals
		kind     string
		err      error
		want     history.Result
		refused  bool
	}{
		{"acknowledged", CairnRefusals, history.Put, nil, history.Ok, false},
		{"CAS on a wrong revision", nil, history.CAS, fmt.Errorf("update: %w", jetstream.ErrKeyRevisionMismatch), history.Fail, false},
		{"put with a revision mismatch error", nil, history.Put, jetstream.ErrKeyRevisionMismatch, history.Unknown, false},
		{"cairn: disk below its reserve", CairnRefusals, history.Put, apiErr(503, 10023), history.Fail, true},
		{"cairn: disk below its reserve, a CAS", CairnRefusals, history.CAS, apiErr(503, 10023), history.Fail, true},
		{"cairn: disk below its reserve, an add", CairnRefusals, history.Add, apiErr(503, 10023), history.Fail, true},
		{"another target: the same code", nil, history.Put, apiErr(503, 10023), history.Unknown, false},
		{"cairn: leader changed", CairnRefusals, history.Put, apiErr(503, 10008), history.Unknown, false},
		{"timeout", CairnRefusals, history.Put, nats.ErrTimeout, history.Unknown, false},
		{"context deadline", CairnRefusals, history.Put, errors.New("context deadline exceeded"), history.Unknown, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, refused := tc.refusals.outcome(tc.kind, tc.err); got != tc.want || refused != tc.refused {
				t.Fatalf("outcome %v refused %v, want %v %v", got, refused, tc.want, tc.refused)
			}
		})
	}
}
