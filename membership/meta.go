package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/hashicorp/memberlist"
)

// Meta is what a node tells the cluster about itself. It travels as JSON in
// memberlist's node metadata, which must stay within MaxMetaSize bytes.
type Meta struct {
	ID         uint64            `json:"id"`                // stable node identity (from the data dir)
	Name       string            `json:"name,omitempty"`    // human name
	ClientAddr string            `json:"client,omitempty"`  // NATS client listener
	HTTPAddr   string            `json:"http,omitempty"`    // HTTP API listener
	PeerAddr   string            `json:"peer,omitempty"`    // raft peer transport
	Tags       map[string]string `json:"tags,omitempty"`    // placement tags
	Version    string            `json:"version,omitempty"` // software version
}

// MaxMetaSize is the largest encoded Meta memberlist can carry.
const MaxMetaSize = memberlist.MetaMaxSize

// metaVersion is the wire version of the encoded metadata. Later versions
// may only add fields, so a decoder accepts any version >= 1.
const metaVersion = 1

// wireMeta is the encoded metadata. Leaving is set by a node that is about to
// leave gracefully (see Membership.Leave): memberlist reports a graceful leave
// and a failure alike, so the flag is how the others tell them apart.
type wireMeta struct {
	V       int  `json:"v"`
	Leaving bool `json:"leaving,omitempty"`
	Meta
}

// leavingOverhead is what the leaving flag adds to an encoding; encodeMeta
// keeps room for it so that Leave can never exceed MaxMetaSize.
const leavingOverhead = len(`,"leaving":true`)

// NodeName is the memberlist node name of a node ID: 16 hex digits.
func NodeName(id uint64) string {
	return fmt.Sprintf("%016x", id)
}

func encodeMeta(m Meta, leaving bool) ([]byte, error) {
	if m.ID == 0 {
		return nil, errors.New("membership: meta: node ID must not be 0")
	}
	b, err := json.Marshal(wireMeta{V: metaVersion, Leaving: leaving, Meta: m})
	if err != nil {
		return nil, fmt.Errorf("membership: meta: encode: %w", err)
	}
	size := len(b)
	if !leaving {
		size += leavingOverhead
	}
	if size > MaxMetaSize {
		return nil, fmt.Errorf("membership: meta: encoded size %d bytes exceeds the %d-byte limit (shorten tags or addresses)", size, MaxMetaSize)
	}
	return b, nil
}

// decodeMeta decodes the metadata of the memberlist node called name and
// checks that it belongs to that name.
func decodeMeta(name string, b []byte) (meta Meta, leaving bool, err error) {
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, false, fmt.Errorf("decode metadata of %q: %w", name, err)
	}
	if w.V < metaVersion {
		return Meta{}, false, fmt.Errorf("decode metadata of %q: missing or bad version %d", name, w.V)
	}
	if w.ID == 0 {
		return Meta{}, false, fmt.Errorf("decode metadata of %q: node ID 0", name)
	}
	if want := NodeName(w.ID); want != name {
		return Meta{}, false, fmt.Errorf("metadata of %q claims node ID %s", name, want)
	}
	return w.Meta, w.Leaving, nil
}

func sameMeta(a, b Meta) bool {
	return a.ID == b.ID && a.Name == b.Name && a.ClientAddr == b.ClientAddr && a.HTTPAddr == b.HTTPAddr &&
		a.PeerAddr == b.PeerAddr && a.Version == b.Version && maps.Equal(a.Tags, b.Tags)
}
