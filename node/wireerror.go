package node

import (
	"context"
	"errors"
	"fmt"
)

// wireError carries an *Error between nodes with its kind, so a client
// sees the same error whichever node served its request.
type wireError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
	Kind        string `json:"kind,omitempty"`
}

// kinds names every sentinel an *Error can carry.
var kinds = map[string]error{}

func init() {
	for _, k := range []error{
		ErrKeyNotFound, ErrKeyDeleted, ErrKeyExists, ErrWrongLastRevision, ErrBucketNotFound,
		ErrBucketExists, ErrInvalidKey, ErrInvalidBucketName, ErrInvalidConfig, ErrValueTooLarge,
		ErrBucketFull, ErrTTLDisabled, ErrInvalidTTL, ErrRollupDisabled, ErrPurgeDenied,
		ErrUnavailable, ErrInvalidRequest, ErrNoKeysFound, ErrWatcherClosed, ErrRevisionNotInRange,
		ErrNoPlacement,
	} {
		kinds[k.Error()] = k
	}
}

func wireErrorOf(err error) *wireError {
	var e *Error
	if !errors.As(translate(err), &e) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return &wireError{Code: 503, ErrCode: 10008, Description: "request timed out on peer", Kind: ErrUnavailable.Error()}
		}
		return &wireError{Code: 500, ErrCode: 10008, Description: err.Error(), Kind: ErrUnavailable.Error()}
	}
	w := &wireError{Code: e.Code, ErrCode: e.ErrCode, Description: e.Description}
	if e.kind != nil {
		w.Kind = e.kind.Error()
	}
	return w
}

func (w *wireError) toError() error {
	return &Error{Code: w.Code, ErrCode: w.ErrCode, Description: w.Description, kind: kinds[w.Kind]}
}

func errInvalidRequest(format string, args ...any) error {
	return newErr(ErrInvalidRequest, 400, 10003, format, args...)
}

// errNoPlacement is what nats-server answers when a stream's replicas
// cannot be placed.
func errNoPlacement(format string, args ...any) error {
	return newErr(ErrNoPlacement, 400, 10005, "no suitable peers for placement: %s", fmt.Sprintf(format, args...))
}
