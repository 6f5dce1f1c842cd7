package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node"
)

// Response headers describing a revision.
const (
	hdrRevision  = "X-Cairn-Revision"
	hdrCreated   = "X-Cairn-Created"
	hdrOperation = "X-Cairn-Operation"
)

// entryJSON is one revision in JSON (history, watch events). Value is
// base64, as encoding/json renders bytes; it is absent when empty.
type entryJSON struct {
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	Value     []byte    `json:"value,omitempty"`
	Revision  uint64    `json:"revision"`
	Created   time.Time `json:"created"`
	Operation string    `json:"operation"`
	Delta     uint64    `json:"delta,omitempty"`
}

func toEntryJSON(e *node.Entry) entryJSON {
	return entryJSON{
		Bucket:    e.Bucket,
		Key:       e.Key,
		Value:     e.Value,
		Revision:  e.Revision,
		Created:   e.Created,
		Operation: e.Op.String(),
		Delta:     e.Delta,
	}
}

type revisionJSON struct {
	Revision uint64 `json:"revision"`
}

// boolParam reads a flag: absent is false, present without a value
// ("?stale") is true, otherwise strconv.ParseBool.
func boolParam(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	v := q.Get(name)
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("query parameter %s: %q is not a boolean", name, v)
	}
	return b, nil
}

// uintParam reads a positive integer parameter (0 when absent).
func uintParam(q url.Values, name string) (uint64, error) {
	if !q.Has(name) {
		return 0, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, badRequest("query parameter %s: %q is not a positive integer", name, v)
	}
	return n, nil
}

// ttlParam reads a TTL: a Go duration ("90s", "1h") or whole seconds.
func ttlParam(q url.Values) (time.Duration, error) {
	if !q.Has("ttl") {
		return 0, nil
	}
	v := q.Get("ttl")
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, badRequest("query parameter ttl: %q is not a positive duration (e.g. 30s, 1h) or a number of seconds", v)
	}
	return d, nil
}

func filtersParam(q url.Values) []string {
	var out []string
	for _, f := range q["filter"] {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// revisionETag parses an If-Match value naming one revision: "N" or N.
func revisionETag(header, v string) (uint64, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "W/") {
		return 0, badRequest("%s: a weak ETag cannot be used for a revision check", header)
	}
	if strings.Contains(v, ",") {
		return 0, badRequest("%s: only one revision may be given", header)
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badRequest("%s: %q is not a revision (expected \"N\" or N)", header, v)
	}
	return n, nil
}

// etagMatches reports whether an If-None-Match list names rev (weak
// comparison, as RFC 9110 asks for If-None-Match) or is "*".
func etagMatches(list string, rev uint64) bool {
	want := strconv.FormatUint(rev, 10)
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || t == `"`+want+`"` || t == want {
			return true
		}
	}
	return false
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

func setEntryHeaders(h http.Header, e *node.Entry) {
	h.Set(hdrRevision, strconv.FormatUint(e.Revision, 10))
	h.Set(hdrCreated, e.Created.UTC().Format(time.RFC3339Nano))
	h.Set(hdrOperation, e.Op.String())
}

func (s *Server) bucket(w http.ResponseWriter, r *http.Request) (*node.Bucket, bool) {
	b, err := s.n.Bucket(r.PathValue("bucket"))
	if err != nil {
		writeError(w, err)
		return nil, false
	}
	return b, true
}

// listKeys: GET /v1/kv/{bucket}[?keys][&filter=F...][&stale]
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	b, ok := s.bucket(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	stale, err := boolParam(q, "stale")
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeKeys(w, r, b, node.ReadOptions{Stale: stale}, filtersParam(q))
}

func (s *Server) writeKeys(w http.ResponseWriter, r *http.Request, b *node.Bucket, ro node.ReadOptions, filters []string) {
	keys, err := b.Keys(r.Context(), ro, filters...)
	if errors.Is(err, node.ErrNoKeysFound) {
		keys, err = []string{}, nil
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Keys []string `json:"keys"`
	}{keys})
}

// getKey: GET /v1/kv/{bucket}/{key...}
//
//	?revision=N   that revision of the key
//	?history      every stored revision, JSON
//	?keys         list keys, the key path acting as a filter
//	?stale        read this replica without a linearizable round
func (s *Server) getKey(w http.ResponseWriter, r *http.Request) {
	b, ok := s.bucket(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	q := r.URL.Query()
	stale, err := boolParam(q, "stale")
	if err != nil {
		writeError(w, err)
		return
	}
	ro := node.ReadOptions{Stale: stale}
	if q.Has("keys") {
		filters := filtersParam(q)
		if key != "" {
			filters = append(filters, key)
		}
		s.writeKeys(w, r, b, ro, filters)
		return
	}
	history, err := boolParam(q, "history")
	if err != nil {
		writeError(w, err)
		return
	}
	if history {
		entries, err := b.History(r.Context(), key, ro)
		if err != nil {
			writeError(w, err)
			return
		}
		out := make([]entryJSON, len(entries))
		for i := range entries {
			out[i] = toEntryJSON(&entries[i])
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	rev, err := uintParam(q, "revision")
	if err != nil {
		writeError(w, err)
		return
	}
	var e node.Entry
	if rev > 0 {
		e, err = b.GetRevision(r.Context(), key, rev, ro)
	} else {
		e, err = b.Get(r.Context(), key, ro)
	}
	if err != nil {
		if errors.Is(err, node.ErrKeyDeleted) && e.Revision != 0 {
			// Say which revision removed it.
			setEntryHeaders(w.Header(), &e)
		}
		writeError(w, err)
		return
	}
	h := w.Header()
	setEntryHeaders(h, &e)
	h.Set("ETag", etag(e.Revision))
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, e.Revision) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(e.Value)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.Value)
}

// readBody reads the request body, at most max+1 bytes; more than max is
// a 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.opts.MaxBodyBytes
	tooLarge := &apiError{Code: http.StatusRequestEntityTooLarge, ErrCode: jsMessageTooLarge,
		Description: fmt.Sprintf("message size exceeds maximum allowed (%d bytes)", limit)}
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("reading request body: %v", err)
	}
	if int64(len(body)) > limit {
		w.Header().Set("Connection", "close")
		return nil, tooLarge
	}
	return body, nil
}

// putKey: PUT /v1/kv/{bucket}/{key...}, the body is the value.
//
//	If-Match: "N"     update: only if the key's latest revision is N
//	If-Match: *       only if the key has a value
//	If-None-Match: *  create: only if the key has no value
//	?ttl=D            with If-None-Match: *, the value expires after D
func (s *Server) putKey(w http.ResponseWriter, r *http.Request) {
	b, ok := s.bucket(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	if err := node.ValidateKey(key); err != nil {
		writeError(w, err)
		return
	}
	ifMatch, ifNoneMatch := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	if ifMatch != "" && ifNoneMatch != "" {
		writeError(w, badRequest("If-Match and If-None-Match cannot be combined"))
		return
	}
	if ifNoneMatch != "" && strings.TrimSpace(ifNoneMatch) != "*" {
		writeError(w, badRequest("If-None-Match on PUT supports only * (create if absent)"))
		return
	}
	ttl, err := ttlParam(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	if ttl > 0 && ifNoneMatch == "" {
		writeError(w, badRequest("ttl is only supported with If-None-Match: * (create)"))
		return
	}
	var last uint64
	if ifMatch != "" && strings.TrimSpace(ifMatch) != "*" {
		if last, err = revisionETag("If-Match", ifMatch); err != nil {
			writeError(w, err)
			return
		}
	}
	value, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	var rev uint64
	switch {
	case ifNoneMatch != "":
		rev, err = b.Create(ctx, key, value, ttl)
	case strings.TrimSpace(ifMatch) == "*":
		var cur node.Entry
		cur, err = b.Get(ctx, key, node.ReadOptions{})
		if errors.Is(err, node.ErrKeyNotFound) {
			err = &apiError{Code: http.StatusPreconditionFailed, ErrCode: 10071, Description: "key has no value (If-Match: *)"}
		}
		if err == nil {
			rev, err = b.Update(ctx, key, value, cur.Revision)
		}
	case ifMatch != "":
		rev, err = b.Update(ctx, key, value, last)
	default:
		rev, err = b.Put(ctx, key, value)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set(hdrRevision, strconv.FormatUint(rev, 10))
	w.Header().Set("ETag", etag(rev))
	writeJSON(w, http.StatusOK, revisionJSON{rev})
}

// deleteKey: DELETE /v1/kv/{bucket}/{key...} leaves a delete marker.
//
//	?purge     remove the key's history, leaving one purge marker
//	?ttl=D     with ?purge, the purge marker expires after D
//	If-Match   only if the key's latest revision is N (or, with *, if the
//	           key has a value)
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	b, ok := s.bucket(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	if err := node.ValidateKey(key); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	purge, err := boolParam(q, "purge")
	if err != nil {
		writeError(w, err)
		return
	}
	ttl, err := ttlParam(q)
	if err != nil {
		writeError(w, err)
		return
	}
	if ttl > 0 && !purge {
		writeError(w, badRequest("ttl is only supported with purge"))
		return
	}
	var o node.RemoveOptions
	o.TTL = ttl
	ctx := r.Context()
	switch im := strings.TrimSpace(r.Header.Get("If-Match")); im {
	case "":
	case "*":
		cur, err := b.Get(ctx, key, node.ReadOptions{})
		if errors.Is(err, node.ErrKeyNotFound) {
			err = &apiError{Code: http.StatusPreconditionFailed, ErrCode: 10071, Description: "key has no value (If-Match: *)"}
		}
		if err != nil {
			writeError(w, err)
			return
		}
		o.LastRevision = cur.Revision
	default:
		last, err := revisionETag("If-Match", im)
		if err == nil && last == 0 {
			err = badRequest("If-Match: a revision is at least 1")
		}
		if err != nil {
			writeError(w, err)
			return
		}
		o.LastRevision = last
	}
	var rev uint64
	if purge {
		rev, err = b.Purge(ctx, key, o)
	} else {
		rev, err = b.Delete(ctx, key, o)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set(hdrRevision, strconv.FormatUint(rev, 10))
	writeJSON(w, http.StatusOK, revisionJSON{rev})
}
