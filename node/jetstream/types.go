package jetstream

import (
	"encoding/json"
	"strconv"
	"time"
)

// APIError is JetStream's error object.
type APIError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code,omitempty"`
	Description string `json:"description,omitempty"`
}

func (e *APIError) Error() string { return e.Description }

// apiResponse carries the fields every API response has.
type apiResponse struct {
	Type  string    `json:"type"`
	Error *APIError `json:"error,omitempty"`
}

// Placement mirrors JetStream's placement.
type Placement struct {
	Cluster string   `json:"cluster,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// RePublish mirrors JetStream's republish.
type RePublish struct {
	Source      string `json:"src,omitempty"`
	Destination string `json:"dest"`
	HeadersOnly bool   `json:"headers_only,omitempty"`
}

// StreamSource mirrors a mirror or source (accepted and echoed, not acted on).
type StreamSource struct {
	Name              string          `json:"name"`
	OptStartSeq       uint64          `json:"opt_start_seq,omitempty"`
	OptStartTime      *time.Time      `json:"opt_start_time,omitempty"`
	FilterSubject     string          `json:"filter_subject,omitempty"`
	SubjectTransforms json.RawMessage `json:"subject_transforms,omitempty"`
	External          json.RawMessage `json:"external,omitempty"`
}

// StreamConfig is the subset of JetStream's stream configuration that KV
// streams use; every field a KV client sends is accepted.
type StreamConfig struct {
	Name                   string            `json:"name"`
	Description            string            `json:"description,omitempty"`
	Subjects               []string          `json:"subjects,omitempty"`
	Retention              string            `json:"retention"`
	MaxConsumers           int               `json:"max_consumers"`
	MaxMsgs                int64             `json:"max_msgs"`
	MaxBytes               int64             `json:"max_bytes"`
	Discard                string            `json:"discard"`
	MaxAge                 int64             `json:"max_age"`
	MaxMsgsPerSubject      int64             `json:"max_msgs_per_subject"`
	MaxMsgSize             int32             `json:"max_msg_size,omitempty"`
	Storage                string            `json:"storage"`
	Replicas               int               `json:"num_replicas"`
	NoAck                  bool              `json:"no_ack,omitempty"`
	Duplicates             int64             `json:"duplicate_window,omitempty"`
	Placement              *Placement        `json:"placement,omitempty"`
	Mirror                 *StreamSource     `json:"mirror,omitempty"`
	Sources                []*StreamSource   `json:"sources,omitempty"`
	Sealed                 bool              `json:"sealed,omitempty"`
	DenyDelete             bool              `json:"deny_delete,omitempty"`
	DenyPurge              bool              `json:"deny_purge,omitempty"`
	AllowRollup            bool              `json:"allow_rollup_hdrs,omitempty"`
	Compression            string            `json:"compression"`
	FirstSeq               uint64            `json:"first_seq,omitempty"`
	SubjectTransform       json.RawMessage   `json:"subject_transform,omitempty"`
	RePublish              *RePublish        `json:"republish,omitempty"`
	AllowDirect            bool              `json:"allow_direct"`
	MirrorDirect           bool              `json:"mirror_direct"`
	DiscardNewPer          bool              `json:"discard_new_per_subject,omitempty"`
	Metadata               map[string]string `json:"metadata,omitempty"`
	AllowMsgTTL            bool              `json:"allow_msg_ttl,omitempty"`
	SubjectDeleteMarkerTTL int64             `json:"subject_delete_marker_ttl,omitempty"`
	ConsumerLimits         json.RawMessage   `json:"consumer_limits,omitempty"`
}

// StreamState is a stream's state.
type StreamState struct {
	Msgs        uint64            `json:"messages"`
	Bytes       uint64            `json:"bytes"`
	FirstSeq    uint64            `json:"first_seq"`
	FirstTime   time.Time         `json:"first_ts"`
	LastSeq     uint64            `json:"last_seq"`
	LastTime    time.Time         `json:"last_ts"`
	NumDeleted  int               `json:"num_deleted,omitempty"`
	NumSubjects uint64            `json:"num_subjects,omitempty"`
	Subjects    map[string]uint64 `json:"subjects,omitempty"`
	Consumers   int               `json:"consumer_count"`
}

// ClusterInfo names the group's leader.
type ClusterInfo struct {
	Name   string `json:"name,omitempty"`
	Leader string `json:"leader,omitempty"`
	// LeaderSince: when the leader took over, as the answering replica
	// saw it (nats-server 2.11 and later).
	LeaderSince *time.Time `json:"leader_since,omitempty"`
	Replicas    []PeerInfo `json:"replicas,omitempty"`
}

// PeerInfo is a replica other than the leader, as JetStream reports it.
type PeerInfo struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
}

// StreamInfo is the response body of stream create/update/info.
type StreamInfo struct {
	Config  StreamConfig `json:"config"`
	Created time.Time    `json:"created"`
	State   StreamState  `json:"state"`
	Cluster *ClusterInfo `json:"cluster,omitempty"`
	TS      time.Time    `json:"ts"`
}

// ConsumerConfig is the subset of consumer configuration that KV watches
// and key listings use.
type ConsumerConfig struct {
	Durable           string          `json:"durable_name,omitempty"`
	Name              string          `json:"name,omitempty"`
	Description       string          `json:"description,omitempty"`
	DeliverPolicy     string          `json:"deliver_policy"`
	OptStartSeq       uint64          `json:"opt_start_seq,omitempty"`
	OptStartTime      *time.Time      `json:"opt_start_time,omitempty"`
	AckPolicy         string          `json:"ack_policy"`
	AckWait           int64           `json:"ack_wait,omitempty"`
	MaxDeliver        int             `json:"max_deliver,omitempty"`
	FilterSubject     string          `json:"filter_subject,omitempty"`
	FilterSubjects    []string        `json:"filter_subjects,omitempty"`
	ReplayPolicy      string          `json:"replay_policy"`
	RateLimit         uint64          `json:"rate_limit_bps,omitempty"`
	MaxWaiting        int             `json:"max_waiting,omitempty"`
	MaxAckPending     int             `json:"max_ack_pending,omitempty"`
	FlowControl       bool            `json:"flow_control,omitempty"`
	Heartbeat         int64           `json:"idle_heartbeat,omitempty"`
	HeadersOnly       bool            `json:"headers_only,omitempty"`
	DeliverSubject    string          `json:"deliver_subject,omitempty"`
	DeliverGroup      string          `json:"deliver_group,omitempty"`
	InactiveThreshold int64           `json:"inactive_threshold,omitempty"`
	Replicas          int             `json:"num_replicas"`
	MemoryStorage     bool            `json:"mem_storage,omitempty"`
	Metadata          json.RawMessage `json:"metadata,omitempty"`
}

// SequenceInfo is a consumer's position.
type SequenceInfo struct {
	Consumer uint64     `json:"consumer_seq"`
	Stream   uint64     `json:"stream_seq"`
	Last     *time.Time `json:"last_active,omitempty"`
}

// ConsumerInfo is the response body of consumer create/info.
type ConsumerInfo struct {
	Stream         string         `json:"stream_name"`
	Name           string         `json:"name"`
	Created        time.Time      `json:"created"`
	Config         ConsumerConfig `json:"config"`
	Delivered      SequenceInfo   `json:"delivered"`
	AckFloor       SequenceInfo   `json:"ack_floor"`
	NumAckPending  int            `json:"num_ack_pending"`
	NumRedelivered int            `json:"num_redelivered"`
	NumWaiting     int            `json:"num_waiting"`
	NumPending     uint64         `json:"num_pending"`
	Cluster        *ClusterInfo   `json:"cluster,omitempty"`
	PushBound      bool           `json:"push_bound,omitempty"`
	TS             time.Time      `json:"ts"`
}

// PubAck answers a publish to a stream subject.
type PubAck struct {
	Error     *APIError `json:"error,omitempty"`
	Stream    string    `json:"stream"`
	Sequence  uint64    `json:"seq"`
	Duplicate bool      `json:"duplicate,omitempty"`
}

// appendJSON appends the acknowledgement of a stored message as
// encoding/json would write it, without its reflection (every put is
// answered with one). It reports false for what it leaves to
// encoding/json: an error, or a stream name that would need escaping.
func (a PubAck) appendJSON(b []byte) ([]byte, bool) {
	if a.Error != nil || !plainJSONString(a.Stream) {
		return b, false
	}
	b = append(b, `{"stream":"`...)
	b = append(b, a.Stream...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, a.Sequence, 10)
	if a.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, '}'), true
}

// plainJSONString reports whether s is printable ASCII that JSON (as
// encoding/json writes it, HTML-escaping on) leaves as it is.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// StoredMsg is a message in a STREAM.MSG.GET response.
type StoredMsg struct {
	Subject  string    `json:"subject"`
	Sequence uint64    `json:"seq"`
	Header   []byte    `json:"hdrs,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	Time     time.Time `json:"time"`
}

const (
	typeAccountInfo    = "io.nats.jetstream.api.v1.account_info_response"
	typeStreamCreate   = "io.nats.jetstream.api.v1.stream_create_response"
	typeStreamUpdate   = "io.nats.jetstream.api.v1.stream_update_response"
	typeStreamInfo     = "io.nats.jetstream.api.v1.stream_info_response"
	typeStreamDelete   = "io.nats.jetstream.api.v1.stream_delete_response"
	typeStreamNames    = "io.nats.jetstream.api.v1.stream_names_response"
	typeStreamList     = "io.nats.jetstream.api.v1.stream_list_response"
	typeStreamPurge    = "io.nats.jetstream.api.v1.stream_purge_response"
	typeStreamMsgGet   = "io.nats.jetstream.api.v1.stream_msg_get_response"
	typeStreamMsgDel   = "io.nats.jetstream.api.v1.stream_msg_delete_response"
	typeConsumerCreate = "io.nats.jetstream.api.v1.consumer_create_response"
	typeConsumerDelete = "io.nats.jetstream.api.v1.consumer_delete_response"
	typeConsumerInfo   = "io.nats.jetstream.api.v1.consumer_info_response"
	typeConsumerNames  = "io.nats.jetstream.api.v1.consumer_names_response"
	typeConsumerList   = "io.nats.jetstream.api.v1.consumer_list_response"
)
