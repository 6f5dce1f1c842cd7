package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cairnkv/cairn/node"
)

// maxRestoreBytes bounds a restore upload.
const maxRestoreBytes = 1 << 30

// lazyWriter sends the response header on the first write, so an error
// before any data can still be answered as JSON.
type lazyWriter struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		h := l.w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", l.name+".cairn-backup"))
		h.Set("X-Content-Type-Options", "nosniff")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

// backupBucket: GET /v1/buckets/{name}/backup streams a consistent backup
// of the bucket, history included (see node.Bucket.Backup for the format).
func (s *Server) backupBucket(w http.ResponseWriter, r *http.Request) {
	b, err := s.n.Bucket(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	lw := &lazyWriter{w: w, name: b.Name()}
	if _, err := b.Backup(r.Context(), lw); err != nil {
		if !lw.started {
			writeError(w, err)
			return
		}
		// Mid-stream: cut the response so the client sees a truncated
		// file, which restore refuses.
		s.lg.Warn("backup failed mid-stream", "bucket", b.Name(), "err", err)
		panic(http.ErrAbortHandler)
	}
}

type restoreJSON struct {
	bucketInfoJSON
	Backup node.BackupSummary `json:"backup"`
}

// restoreBucket: POST /v1/restore with a backup file as the body creates
// the bucket it holds, with the same revisions and times. The file is
// verified whole first; a damaged one is refused with 400.
func (s *Server) restoreBucket(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	body := http.MaxBytesReader(w, r.Body, maxRestoreBytes)
	sum, info, err := s.n.Restore(r.Context(), body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			err = &apiError{Code: http.StatusRequestEntityTooLarge, ErrCode: jsBadRequest,
				Description: fmt.Sprintf("backup larger than %d bytes", mb.Limit)}
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, restoreJSON{toBucketInfoJSON(info), sum})
}
