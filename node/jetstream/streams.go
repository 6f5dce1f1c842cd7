package jetstream

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/storage/bucket"
)

// streamPrefix is the stream name prefix of a KV bucket.
const streamPrefix = "KV_"

// Version and API level announced: 2.11 with level 1, since per-key TTL and
// limit markers are implemented (see docs/nats-compatibility.md).
const (
	ServerVersion = "2.11.0"
	APILevel      = 1
)

// bucketOf returns the bucket behind a stream name.
func bucketOf(stream string) (string, bool) {
	b, ok := strings.CutPrefix(stream, streamPrefix)
	return b, ok && b != ""
}

func errNotKV(name string) *APIError {
	return &APIError{Code: 400, ErrCode: 10052, Description: "invalid stream config: cairn serves only Key/Value streams (KV_<bucket> with subjects $KV.<bucket>.>), not " + name}
}

// toBucketConfig maps a KV stream configuration onto a bucket config.
func toBucketConfig(sc *StreamConfig) (bucket.Config, *APIError) {
	name, ok := bucketOf(sc.Name)
	if !ok {
		return bucket.Config{}, errNotKV(sc.Name)
	}
	if sc.Mirror != nil || len(sc.Sources) > 0 {
		return bucket.Config{}, &APIError{Code: 400, ErrCode: 10052, Description: "invalid stream config: mirrors and sources are not supported by cairn"}
	}
	want := "$KV." + name + ".>"
	if len(sc.Subjects) != 1 || sc.Subjects[0] != want {
		return bucket.Config{}, &APIError{Code: 400, ErrCode: 10052, Description: "invalid stream config: a KV stream's subjects must be [" + want + "]"}
	}
	if sc.Retention != "" && sc.Retention != "limits" {
		return bucket.Config{}, &APIError{Code: 400, ErrCode: 10052, Description: "invalid stream config: KV streams use limits retention"}
	}
	c := bucket.Config{
		Name:            name,
		Description:     sc.Description,
		History:         sc.MaxMsgsPerSubject,
		MaxAge:          time.Duration(sc.MaxAge),
		MaxBytes:        sc.MaxBytes,
		MaxValueSize:    sc.MaxMsgSize,
		Storage:         bucket.Storage(sc.Storage),
		Replicas:        sc.Replicas,
		Compression:     sc.Compression == "s2",
		AllowMsgTTL:     sc.AllowMsgTTL,
		MarkerTTL:       time.Duration(sc.SubjectDeleteMarkerTTL),
		DuplicateWindow: time.Duration(sc.Duplicates),
		DenyPurge:       sc.DenyPurge,
	}
	if c.History <= 0 {
		c.History = 1
	}
	if c.Storage == "" {
		c.Storage = bucket.FileStorage
	}
	if sc.Placement != nil {
		c.Placement = &bucket.Placement{Cluster: sc.Placement.Cluster, Tags: sc.Placement.Tags}
	}
	if sc.RePublish != nil {
		c.RePublish = &bucket.RePublish{Source: sc.RePublish.Source, Destination: sc.RePublish.Destination, HeadersOnly: sc.RePublish.HeadersOnly}
	}
	if len(sc.Metadata) > 0 {
		c.Metadata = map[string]string{}
		for k, v := range sc.Metadata {
			if !strings.HasPrefix(k, "_nats.") {
				c.Metadata[k] = v
			}
		}
		if len(c.Metadata) == 0 {
			c.Metadata = nil
		}
	}
	return c, nil
}

// toStreamConfig renders a bucket config as the stream config a
// nats-server would report, defaults filled in.
func toStreamConfig(c bucket.Config) StreamConfig {
	sc := StreamConfig{
		Name:                   streamPrefix + c.Name,
		Description:            c.Description,
		Subjects:               []string{"$KV." + c.Name + ".>"},
		Retention:              "limits",
		MaxConsumers:           -1,
		MaxMsgs:                -1,
		MaxBytes:               c.MaxBytes,
		Discard:                "new",
		MaxAge:                 int64(c.MaxAge),
		MaxMsgsPerSubject:      c.History,
		MaxMsgSize:             c.MaxValueSize,
		Storage:                string(c.Storage),
		Replicas:               c.Replicas,
		Duplicates:             int64(c.DuplicateWindow),
		DenyDelete:             c.DenyDelete,
		DenyPurge:              c.DenyPurge,
		AllowRollup:            c.AllowRollup,
		Compression:            "none",
		AllowDirect:            c.AllowDirect,
		AllowMsgTTL:            c.AllowMsgTTL,
		SubjectDeleteMarkerTTL: int64(c.MarkerTTL),
	}
	if c.Compression {
		sc.Compression = "s2"
	}
	if c.Placement != nil {
		sc.Placement = &Placement{Cluster: c.Placement.Cluster, Tags: c.Placement.Tags}
	}
	if c.RePublish != nil {
		sc.RePublish = &RePublish{Source: c.RePublish.Source, Destination: c.RePublish.Destination, HeadersOnly: c.RePublish.HeadersOnly}
	}
	sc.Metadata = maps.Clone(c.Metadata)
	if sc.Metadata == nil {
		sc.Metadata = map[string]string{}
	}
	sc.Metadata["_nats.ver"] = ServerVersion
	sc.Metadata["_nats.level"] = "1"
	req := "0"
	if c.AllowMsgTTL || c.MarkerTTL > 0 {
		req = "1"
	}
	sc.Metadata["_nats.req.level"] = req
	return sc
}

func (s *Server) streamInfo(bi node.BucketInfo) StreamInfo {
	st := bi.State
	si := StreamInfo{
		Config:  toStreamConfig(bi.Config),
		Created: bi.Created,
		State: StreamState{
			Msgs:        st.Msgs,
			Bytes:       st.Bytes,
			FirstSeq:    st.First,
			LastSeq:     st.Last,
			NumSubjects: st.Keys,
			Consumers:   s.consumerCount(streamPrefix + bi.Config.Name),
		},
		Cluster: s.clusterInfo(bi),
		TS:      time.Now().UTC(),
	}
	if st.FirstTime > 0 {
		si.State.FirstTime = time.Unix(0, st.FirstTime).UTC()
	}
	if st.LastTime > 0 {
		si.State.LastTime = time.Unix(0, st.LastTime).UTC()
	}
	if st.Msgs > 0 && st.Last >= st.First {
		si.State.NumDeleted = int(st.Last - st.First + 1 - st.Msgs)
	}
	return si
}

// clusterInfo names the bucket's leader and its other replicas, by node
// name, as nats-server does for a clustered stream. The leader knows how
// far each replica has got and when it last heard from it; another node
// knows only which replicas gossip reports down (streamInfoAPI passes
// stream info requests on to the leader for that reason).
func (s *Server) clusterInfo(bi node.BucketInfo) *ClusterInfo {
	ci := &ClusterInfo{Name: s.clusterName, Leader: s.leaderName(bi.Leader)}
	if !bi.LeaderSince.IsZero() {
		ci.LeaderSince = &bi.LeaderSince
	}
	if bi.ReplicaStates != nil {
		for _, rs := range bi.ReplicaStates {
			ci.Replicas = append(ci.Replicas, PeerInfo{
				Name: s.leaderName(rs.ID), Current: rs.Current, Offline: rs.Offline,
				Active: rs.Seen, Lag: rs.Lag,
			})
		}
		sortReplicas(ci.Replicas)
		return ci
	}
	alive := map[uint64]bool{}
	if replicas, _, ok := s.node.Locate(bi.Config.Name); ok {
		for _, r := range replicas {
			alive[r.ID] = r.Alive
		}
	}
	for _, id := range bi.Replicas {
		if id == bi.Leader {
			continue
		}
		up, known := alive[id]
		offline := known && !up
		ci.Replicas = append(ci.Replicas, PeerInfo{Name: s.leaderName(id), Current: bi.Leader != 0 && !offline, Offline: offline})
	}
	sortReplicas(ci.Replicas)
	return ci
}

// sortReplicas orders replicas by name, so that repeated answers list
// them alike.
func sortReplicas(rs []PeerInfo) {
	slices.SortFunc(rs, func(a, b PeerInfo) int { return strings.Compare(a.Name, b.Name) })
}
