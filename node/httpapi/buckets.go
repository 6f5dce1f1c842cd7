package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/storage/bucket"
)

// duration is a time.Duration in JSON: written as a Go duration string
// ("1h30m"), read from such a string or from a number of nanoseconds.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. \"90s\", \"24h\")", s)
		}
		*d = duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("%s is not a duration: give a string such as \"90s\" or whole nanoseconds", b)
	}
	*d = duration(n)
	return nil
}

// bucketConfigIn is the body of PUT /v1/buckets/{name}. Zero values take
// the node's defaults.
type bucketConfigIn struct {
	Name         string            `json:"name"`
	Description  string            `json:"description"`
	History      int64             `json:"history"`
	TTL          duration          `json:"ttl"`
	MaxBytes     int64             `json:"max_bytes"`
	MaxValueSize int32             `json:"max_value_size"`
	Storage      string            `json:"storage"`
	Replicas     int               `json:"replicas"`
	Compression  bool              `json:"compression"`
	Metadata     map[string]string `json:"metadata"`
	MarkerTTL    duration          `json:"marker_ttl"`
}

// bucketConfigOut is a bucket's configuration as reported.
type bucketConfigOut struct {
	Name         string            `json:"name"`
	Description  string            `json:"description,omitempty"`
	History      int64             `json:"history"`
	TTL          duration          `json:"ttl"`
	MaxBytes     int64             `json:"max_bytes"`
	MaxValueSize int32             `json:"max_value_size"`
	Storage      string            `json:"storage"`
	Replicas     int               `json:"replicas"`
	Compression  bool              `json:"compression"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	MarkerTTL    duration          `json:"marker_ttl"`
}

type bucketStateJSON struct {
	Messages      uint64    `json:"messages"`
	Bytes         uint64    `json:"bytes"`
	Keys          uint64    `json:"keys"`
	FirstRevision uint64    `json:"first_revision"`
	LastRevision  uint64    `json:"last_revision"`
	FirstTime     time.Time `json:"first_time,omitzero"`
	LastTime      time.Time `json:"last_time,omitzero"`
	Applied       uint64    `json:"applied"`
}

type bucketInfoJSON struct {
	Name    string          `json:"name"`
	Config  bucketConfigOut `json:"config"`
	Created time.Time       `json:"created"`
	Group   uint64          `json:"group"`
	Leader  string          `json:"leader"` // node ID; "" when none is known
	State   bucketStateJSON `json:"state"`
}

// nodeID renders a node ID as the data directory marker does: 16 hex
// digits (as a JSON number a 64-bit ID would lose precision in
// JavaScript).
func nodeID(id uint64) string {
	if id == 0 {
		return ""
	}
	return fmt.Sprintf("%016x", id)
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func toBucketInfoJSON(bi node.BucketInfo) bucketInfoJSON {
	c := bi.Config
	st := bi.State
	return bucketInfoJSON{
		Name: c.Name,
		Config: bucketConfigOut{
			Name: c.Name, Description: c.Description, History: c.History, TTL: duration(c.MaxAge),
			MaxBytes: c.MaxBytes, MaxValueSize: c.MaxValueSize, Storage: string(c.Storage),
			Replicas: c.Replicas, Compression: c.Compression, Metadata: c.Metadata,
			MarkerTTL: duration(c.MarkerTTL),
		},
		Created: bi.Created,
		Group:   bi.Group,
		Leader:  nodeID(bi.Leader),
		State: bucketStateJSON{
			Messages: st.Msgs, Bytes: st.Bytes, Keys: st.Keys,
			FirstRevision: st.First, LastRevision: st.Last,
			FirstTime: unixTime(st.FirstTime), LastTime: unixTime(st.LastTime),
			Applied: st.Applied,
		},
	}
}

// listBuckets: GET /v1/buckets
func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request) {
	infos, err := s.n.Buckets(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]bucketInfoJSON, len(infos))
	for i, bi := range infos {
		out[i] = toBucketInfoJSON(bi)
	}
	writeJSON(w, http.StatusOK, struct {
		Buckets []bucketInfoJSON `json:"buckets"`
	}{out})
}

// getBucket: GET /v1/buckets/{name}
func (s *Server) getBucket(w http.ResponseWriter, r *http.Request) {
	bi, err := s.n.BucketInfo(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toBucketInfoJSON(bi))
}

// putBucket: PUT /v1/buckets/{name} with a JSON configuration (an empty
// body takes every default). Creating is idempotent: the same
// configuration again is a success, a different one a 409. ?update=true
// changes an existing bucket's configuration instead.
func (s *Server) putBucket(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := node.ValidateBucketName(name); err != nil {
		writeError(w, err)
		return
	}
	update, err := boolParam(r.URL.Query(), "update")
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var in bucketConfigIn
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeError(w, badRequest("bucket configuration: %v", jsonErrText(err)))
			return
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			writeError(w, badRequest("bucket configuration: trailing data after the JSON object"))
			return
		}
	}
	if in.Name != "" && in.Name != name {
		writeError(w, badRequest("bucket configuration: name %q differs from the path's %q", in.Name, name))
		return
	}
	cfg := node.BucketConfig{
		Name:         name,
		Description:  in.Description,
		History:      in.History,
		MaxAge:       time.Duration(in.TTL),
		MaxBytes:     in.MaxBytes,
		MaxValueSize: in.MaxValueSize,
		Storage:      bucket.Storage(in.Storage),
		Replicas:     in.Replicas,
		Compression:  in.Compression,
		Metadata:     in.Metadata,
		MarkerTTL:    time.Duration(in.MarkerTTL),
	}
	var bi node.BucketInfo
	if update {
		bi, err = s.n.UpdateBucket(r.Context(), cfg)
	} else {
		bi, err = s.n.CreateBucket(r.Context(), cfg)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toBucketInfoJSON(bi))
}

// jsonErrText makes decoding errors readable without Go type names.
func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: expected %s, got %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return err.Error()
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "bool":
		return "true or false"
	case "map":
		return "an object"
	}
	return "a " + k
}

// deleteBucket: DELETE /v1/buckets/{name}
func (s *Server) deleteBucket(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.n.DeleteBucket(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Bucket  string `json:"bucket"`
		Deleted bool   `json:"deleted"`
	}{name, true})
}
