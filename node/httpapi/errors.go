package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cairnkv/cairn/node"
)

// apiError is the JSON error body: {"error":{...}}. Code is the HTTP
// status; ErrCode the JetStream err_code (0 when there is none).
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string { return e.Description }

// JetStream error codes used for errors this package raises itself.
const (
	jsBadRequest      = 10003 // JSBadRequestErr
	jsMessageTooLarge = 10054 // JSStreamMessageExceedsMaximumErr
)

func badRequest(format string, args ...any) error {
	return &apiError{Code: http.StatusBadRequest, ErrCode: jsBadRequest, Description: fmt.Sprintf(format, args...)}
}

// toAPIError maps an error from the node to what the client sees. The
// node's codes are kept, except where HTTP has a more precise status:
// 412 for a failed revision precondition, 409 for "already exists", 413
// for a value too large, 400 for an unusable bucket configuration.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ne *node.Error
	if errors.As(err, &ne) {
		out := &apiError{Code: ne.Code, ErrCode: ne.ErrCode, Description: ne.Description}
		switch {
		case errors.Is(err, node.ErrKeyExists): // before: it wraps a wrong revision
			out.Code = http.StatusConflict
		case errors.Is(err, node.ErrWrongLastRevision):
			out.Code = http.StatusPreconditionFailed
		case errors.Is(err, node.ErrBucketExists):
			out.Code = http.StatusConflict
		case errors.Is(err, node.ErrValueTooLarge):
			out.Code = http.StatusRequestEntityTooLarge
		case errors.Is(err, node.ErrInvalidConfig):
			out.Code = http.StatusBadRequest
		}
		if out.Code < 400 || out.Code > 599 {
			out.Code = http.StatusInternalServerError
		}
		return out
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{Code: http.StatusGatewayTimeout, Description: "request timed out: " + err.Error()}
	case errors.Is(err, context.Canceled):
		return &apiError{Code: http.StatusServiceUnavailable, Description: "request canceled"}
	}
	return &apiError{Code: http.StatusInternalServerError, Description: "internal error: " + err.Error()}
}

// writeError writes err as a JSON error with the matching status.
func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	writeJSON(w, ae.Code, struct {
		Error *apiError `json:"error"`
	}{ae})
}

// writeJSON writes v as the JSON response body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(map[string]any{"error": &apiError{Code: status, Description: "encoding response: " + err.Error()}})
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
