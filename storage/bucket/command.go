package bucket

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Kind is the type of a replicated command.
type Kind uint8

// Command kinds.
const (
	KindPublish   Kind = 1 // one or more publishes, all or nothing
	KindPurge     Kind = 2
	KindExpire    Kind = 3
	KindSetConfig Kind = 4
	KindNoop      Kind = 5
	KindRestore   Kind = 6 // messages with their original revisions and times
)

// Rollup removes earlier revisions when a publish is stored.
type Rollup uint8

// Rollup scopes.
const (
	RollupNone Rollup = iota
	RollupKey         // Nats-Rollup: sub
	RollupAll         // Nats-Rollup: all
)

// Publish stores one revision, subject to its expectations.
type Publish struct {
	Key    string
	Op     Op
	Header []byte
	Data   []byte
	TTL    int64 // nanoseconds; 0 none
	Rollup Rollup

	// ExpectKeySeq, when HasExpectKeySeq, must equal the latest revision
	// of ExpectKey (Key when empty); 0 means the key has no revision.
	HasExpectKeySeq bool
	ExpectKeySeq    uint64
	ExpectKey       string
	// ExpectLastSeq, when HasExpectLastSeq, must equal the bucket's last
	// revision.
	HasExpectLastSeq bool
	ExpectLastSeq    uint64
	// ExpectNoValue passes when the key has no revision or its latest
	// revision is a delete, purge or marker: an atomic KV create.
	ExpectNoValue bool
}

// PurgeRequest removes revisions. Filter is a key filter ("" = all keys).
// Keep keeps the newest Keep matching revisions; Seq removes matching
// revisions below Seq. Neither: remove all matching revisions.
type PurgeRequest struct {
	Filter string
	Keep   uint64
	Seq    uint64
}

// Restore stores messages exactly as a backup recorded them: each Msg keeps
// its Seq and Time, which must be above the bucket's last revision and
// strictly increasing. SetLast, when above the last revision after the
// messages, raises it (revisions purged at the end of the original), and
// LastTime, when later, becomes the last revision's time.
type Restore struct {
	Msgs     []Msg
	SetLast  uint64
	LastTime int64
}

// Command is one replicated state change. Time is the proposing leader's
// clock (unix ns); the state machine never lets stored times go backwards.
type Command struct {
	Kind    Kind
	Time    int64
	Pubs    []Publish
	Purge   PurgeRequest
	Config  *Config
	Restore Restore
}

// Result is the outcome of applying a command.
type Result struct {
	Seqs   []uint64 // revision of each publish
	Prev   []uint64 // each publish's key's previous latest revision (0: none)
	Purged uint64
	Err    error
}

var errBadCommand = errors.New("malformed command")

// Encode serializes a command.
func (c *Command) Encode() ([]byte, error) {
	buf := make([]byte, 0, 64)
	buf = append(buf, byte(c.Kind))
	buf = binary.AppendVarint(buf, c.Time)
	switch c.Kind {
	case KindPublish:
		buf = binary.AppendUvarint(buf, uint64(len(c.Pubs)))
		for i := range c.Pubs {
			buf = appendPublish(buf, &c.Pubs[i])
		}
	case KindPurge:
		buf = appendBytes(buf, []byte(c.Purge.Filter))
		buf = binary.AppendUvarint(buf, c.Purge.Keep)
		buf = binary.AppendUvarint(buf, c.Purge.Seq)
	case KindSetConfig:
		raw, err := json.Marshal(c.Config)
		if err != nil {
			return nil, fmt.Errorf("encoding config: %w", err)
		}
		buf = appendBytes(buf, raw)
	case KindRestore:
		buf = binary.AppendUvarint(buf, c.Restore.SetLast)
		buf = binary.AppendVarint(buf, c.Restore.LastTime)
		buf = binary.AppendUvarint(buf, uint64(len(c.Restore.Msgs)))
		for i := range c.Restore.Msgs {
			m := &c.Restore.Msgs[i]
			buf = binary.AppendUvarint(buf, m.Seq)
			buf = binary.AppendVarint(buf, m.Time)
			buf = append(buf, byte(m.Op))
			buf = appendBytes(buf, []byte(m.Key))
			buf = appendBytes(buf, m.Header)
			buf = appendBytes(buf, m.Data)
			buf = binary.AppendVarint(buf, m.TTL)
		}
	case KindExpire, KindNoop:
	default:
		return nil, fmt.Errorf("%w: kind %d", errBadCommand, c.Kind)
	}
	return buf, nil
}

func appendPublish(buf []byte, p *Publish) []byte {
	var flags byte
	if p.HasExpectKeySeq {
		flags |= 1
	}
	if p.HasExpectLastSeq {
		flags |= 2
	}
	if p.ExpectNoValue {
		flags |= 4
	}
	buf = append(buf, flags, byte(p.Op), byte(p.Rollup))
	buf = appendBytes(buf, []byte(p.Key))
	buf = appendBytes(buf, p.Header)
	buf = appendBytes(buf, p.Data)
	buf = binary.AppendVarint(buf, p.TTL)
	buf = binary.AppendUvarint(buf, p.ExpectKeySeq)
	buf = appendBytes(buf, []byte(p.ExpectKey))
	return binary.AppendUvarint(buf, p.ExpectLastSeq)
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// DecodeCommand parses a serialized command. Byte slices alias data.
func DecodeCommand(data []byte) (*Command, error) {
	d := decoder{b: data}
	c := &Command{Kind: Kind(d.byte())}
	c.Time = d.varint()
	switch c.Kind {
	case KindPublish:
		n := d.uvarint()
		if n > uint64(len(data)) {
			return nil, errBadCommand
		}
		c.Pubs = make([]Publish, n)
		for i := range c.Pubs {
			p := &c.Pubs[i]
			flags := d.byte()
			p.Op, p.Rollup = Op(d.byte()), Rollup(d.byte())
			p.HasExpectKeySeq, p.HasExpectLastSeq, p.ExpectNoValue = flags&1 != 0, flags&2 != 0, flags&4 != 0
			p.Key = string(d.bytes())
			p.Header = d.bytes()
			p.Data = d.bytes()
			p.TTL = d.varint()
			p.ExpectKeySeq = d.uvarint()
			p.ExpectKey = string(d.bytes())
			p.ExpectLastSeq = d.uvarint()
		}
	case KindPurge:
		c.Purge.Filter = string(d.bytes())
		c.Purge.Keep = d.uvarint()
		c.Purge.Seq = d.uvarint()
	case KindSetConfig:
		raw := d.bytes()
		if d.err == nil {
			c.Config = &Config{}
			if err := json.Unmarshal(raw, c.Config); err != nil {
				return nil, fmt.Errorf("%w: config: %w", errBadCommand, err)
			}
		}
	case KindRestore:
		c.Restore.SetLast = d.uvarint()
		c.Restore.LastTime = d.varint()
		n := d.uvarint()
		if n > uint64(len(data)) {
			return nil, errBadCommand
		}
		if n > 0 {
			c.Restore.Msgs = make([]Msg, n)
		}
		for i := range c.Restore.Msgs {
			m := &c.Restore.Msgs[i]
			m.Seq = d.uvarint()
			m.Time = d.varint()
			m.Op = Op(d.byte())
			m.Key = string(d.bytes())
			m.Header = d.bytes()
			m.Data = d.bytes()
			m.TTL = d.varint()
		}
	case KindExpire, KindNoop:
	default:
		return nil, fmt.Errorf("%w: kind %d", errBadCommand, c.Kind)
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.err = errBadCommand
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadCommand
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadCommand
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errBadCommand
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	if n == 0 {
		return nil
	}
	return v
}
