package bucket

import (
	"encoding/json"
	"time"
)

// Storage is where a bucket keeps its data.
type Storage string

// Storage kinds.
const (
	FileStorage   Storage = "file"
	MemoryStorage Storage = "memory"
)

// Placement constrains which nodes may hold a bucket's replicas.
type Placement struct {
	Cluster string   `json:"cluster,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// RePublish copies stored messages to another subject.
type RePublish struct {
	Source      string `json:"src,omitempty"`
	Destination string `json:"dest"`
	HeadersOnly bool   `json:"headers_only,omitempty"`
}

// Config is a bucket's configuration. Field meanings follow JetStream's
// stream configuration for a KV stream; limits of -1 or 0 mean unlimited.
type Config struct {
	Name            string            `json:"name"`
	Description     string            `json:"description,omitempty"`
	History         int64             `json:"history"`
	MaxAge          time.Duration     `json:"max_age"`
	MaxBytes        int64             `json:"max_bytes"`
	MaxValueSize    int32             `json:"max_value_size"`
	Storage         Storage           `json:"storage"`
	Replicas        int               `json:"replicas"`
	Compression     bool              `json:"compression,omitempty"`
	Placement       *Placement        `json:"placement,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	RePublish       *RePublish        `json:"republish,omitempty"`
	AllowMsgTTL     bool              `json:"allow_msg_ttl,omitempty"`
	MarkerTTL       time.Duration     `json:"marker_ttl,omitempty"`
	DuplicateWindow time.Duration     `json:"duplicate_window,omitempty"`
	AllowRollup     bool              `json:"allow_rollup"`
	DenyDelete      bool              `json:"deny_delete"`
	DenyPurge       bool              `json:"deny_purge,omitempty"`
	AllowDirect     bool              `json:"allow_direct"`
	DiscardNew      bool              `json:"discard_new"`
}

// Clone returns a deep copy.
func (c Config) Clone() Config {
	raw, _ := json.Marshal(c)
	var out Config
	_ = json.Unmarshal(raw, &out)
	return out
}
