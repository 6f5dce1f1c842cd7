package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/node"
)

type watchItem struct {
	e   *node.Entry
	err error
}

// watch: GET /v1/watch/{bucket}, a Server-Sent Events stream.
//
//	?filter=F          repeatable; '*' matches one token, '>' the rest
//	?history           every stored revision, not just the latest per key
//	?updates_only      only changes made after the watch starts
//	?ignore_deletes    skip delete and purge revisions
//	?meta_only         leave values out
//	?resume_from=N     start at revision N (overrides the above)
//	?stale             skip the linearizable barrier at start
//
// Events: "entry" (data: the revision as JSON, id: its revision),
// "initialized" once the initial values are delivered, "error" before the
// stream ends on an error. An EventSource that reconnects with
// Last-Event-ID resumes after the last revision it received. Comment lines
// are sent every KeepAlive while idle.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	b, ok := s.bucket(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var o node.WatchOptions
	for _, f := range []struct {
		name string
		dst  *bool
	}{
		{"history", &o.IncludeHistory},
		{"updates_only", &o.UpdatesOnly},
		{"ignore_deletes", &o.IgnoreDeletes},
		{"meta_only", &o.MetaOnly},
		{"stale", &o.Stale},
	} {
		v, err := boolParam(q, f.name)
		if err != nil {
			writeError(w, err)
			return
		}
		*f.dst = v
	}
	if o.IncludeHistory && o.UpdatesOnly {
		writeError(w, badRequest("history and updates_only cannot be combined"))
		return
	}
	var err error
	if o.ResumeFrom, err = uintParam(q, "resume_from"); err != nil {
		writeError(w, err)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" && o.ResumeFrom == 0 {
		last, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			writeError(w, badRequest("Last-Event-ID: %q is not a revision", id))
			return
		}
		o.ResumeFrom = last + 1
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	wt, err := b.Watch(ctx, filtersParam(q), o)
	if err != nil {
		writeError(w, err)
		return
	}
	if r.Method == http.MethodHead {
		// The watch opened (its filters, options and read barrier are
		// what a GET would get), and ends here: a HEAD response has no
		// body, so a client takes it as complete at its headers and may
		// send its next request on the same connection, which streaming
		// on would leave unread.
		wt.Close()
		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	s.watchers.Add(1)
	s.m.watchers.Inc()
	defer func() {
		s.m.watchers.Dec()
		s.watchers.Add(-1)
	}()

	// One goroutine reads the watcher (it blocks until the next
	// revision); this one writes, so keep-alives go out while it waits.
	// The watcher reads at the pace of the client: a slow client is
	// caught up from storage, never dropped.
	items := make(chan watchItem)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			e, err := wt.Next(ctx)
			select {
			case items <- watchItem{e, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-done
		wt.Close()
	}()

	rc := http.NewResponseController(w)
	// A stream has no request deadline; each write gets its own.
	_ = rc.SetReadDeadline(time.Time{})
	setStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	send := func(p []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(p); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send([]byte(": watching " + b.Name() + "\n\n")) {
		return
	}
	keepAlive := time.NewTicker(s.opts.KeepAlive)
	defer keepAlive.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-keepAlive.C:
			if !send([]byte(": keep-alive\n\n")) {
				return
			}
			continue
		case it := <-items:
			buf.Reset()
			switch {
			case it.err != nil:
				if ctx.Err() != nil {
					return
				}
				s.lg.Debug("watch ended", "bucket", b.Name(), "err", it.err)
				data, _ := json.Marshal(struct {
					Error *apiError `json:"error"`
				}{toAPIError(it.err)})
				writeEvent(&buf, "error", "", data)
				send(buf.Bytes())
				return
			case it.e == nil:
				writeEvent(&buf, "initialized", "", []byte("{}"))
			default:
				data, err := json.Marshal(toEntryJSON(it.e))
				if err != nil {
					return
				}
				writeEvent(&buf, "entry", strconv.FormatUint(it.e.Revision, 10), data)
				s.m.watchEntries.Inc()
			}
			if !send(buf.Bytes()) {
				return
			}
			keepAlive.Reset(s.opts.KeepAlive)
		}
	}
}

// writeEvent formats one SSE event; data is one line of JSON.
func writeEvent(buf *bytes.Buffer, event, id string, data []byte) {
	buf.WriteString("event: ")
	buf.WriteString(event)
	buf.WriteByte('\n')
	if id != "" {
		buf.WriteString("id: ")
		buf.WriteString(id)
		buf.WriteByte('\n')
	}
	buf.WriteString("data: ")
	buf.Write(data)
	buf.WriteString("\n\n")
}

// setStreamHeaders are the headers of an event stream (also the whole
// answer to a HEAD).
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}
