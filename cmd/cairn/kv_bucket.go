package main

// Bucket verbs: kv add, info, ls, rm (and del BUCKET, in kv_key.go).

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newKVAddCmd(o *clientOptions) *cobra.Command {
	var (
		history      uint8
		ttl          time.Duration
		maxValueSize = sizeFlag(-1)
		maxBytes     = sizeFlag(-1)
		storage      string
		replicas     int
		description  string
		markerTTL    time.Duration
		compress     bool
		metadata     []string
	)
	cmd := &cobra.Command{
		Use:   "add BUCKET",
		Short: "Create a bucket",
		Long: `Create a key/value bucket. Adding a bucket that exists with the same
configuration succeeds; with a different configuration it fails.

--marker-ttl enables per-key TTLs (kv create --ttl, kv purge --ttl) and
makes watchers see keys removed by a TTL: the removal leaves a marker
that is kept for that long.`,
		Example: `  cairn kv add orders
  cairn kv add sessions --ttl 30m --marker-ttl 1m --history 1
  cairn kv add config --history 10 --max-value-size 64KiB --metadata team=core`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := args[0]
			st, err := parseStorage(storage)
			if err != nil {
				return err
			}
			if int64(maxValueSize) > 1<<31-1 {
				return fmt.Errorf("--max-value-size %d is too large (at most %d)", maxValueSize, 1<<31-1)
			}
			md, err := parseMetadata(metadata)
			if err != nil {
				return err
			}
			cfg := jetstream.KeyValueConfig{
				Bucket:         bucket,
				Description:    description,
				MaxValueSize:   int32(maxValueSize),
				History:        history,
				TTL:            ttl,
				MaxBytes:       int64(maxBytes),
				Storage:        st,
				Replicas:       replicas,
				Compression:    compress,
				LimitMarkerTTL: markerTTL,
				Metadata:       md,
			}
			c, err := o.connect("kv add")
			if err != nil {
				return err
			}
			defer c.close()
			ctx, cancel := c.ctx(cmd.Context())
			defer cancel()
			kv, err := c.js.CreateKeyValue(ctx, cfg)
			if err != nil {
				return c.fail("add", bucket, err)
			}
			st2, err := kv.Status(ctx)
			if err != nil {
				return c.fail("add", bucket, err)
			}
			return o.printBucket(cmd.OutOrStdout(), st2)
		},
	}
	f := cmd.Flags()
	f.Uint8Var(&history, "history", 1, "how many revisions of each key to keep, `N` from 1 to 64")
	f.DurationVar(&ttl, "ttl", 0, "how long keys live after their last write (0: forever)")
	f.Var(&maxValueSize, "max-value-size", "largest value accepted, in bytes or with a unit (64KiB, 1MB); -1: no limit")
	f.Var(&maxBytes, "max-bucket-size", "most bytes the bucket may hold, in bytes or with a unit (1GiB); -1: no limit")
	f.StringVar(&storage, "storage", "file", "storage `TYPE`: file or memory")
	f.IntVar(&replicas, "replicas", 1, "how many copies `N` of the bucket the cluster keeps")
	f.StringVar(&description, "description", "", "a description of the bucket")
	f.DurationVar(&markerTTL, "marker-ttl", 0, "keep markers of TTL removals this long; enables per-key TTLs (0: off)")
	f.BoolVar(&compress, "compress", false, "compress the bucket's data")
	f.StringArrayVar(&metadata, "metadata", nil, "`KEY=VALUE` metadata for the bucket (repeatable)")
	return cmd
}

func parseStorage(s string) (jetstream.StorageType, error) {
	switch strings.ToLower(s) {
	case "file":
		return jetstream.FileStorage, nil
	case "memory":
		return jetstream.MemoryStorage, nil
	}
	return 0, fmt.Errorf("--storage %q is neither file nor memory", s)
}

func storageName(st jetstream.StorageType) string {
	switch st {
	case jetstream.MemoryStorage:
		return "memory"
	case jetstream.FileStorage:
		return "file"
	}
	return st.String()
}

// parseMetadata turns repeated KEY=VALUE flags into a map.
func parseMetadata(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	md := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--metadata %q is not KEY=VALUE", p)
		}
		md[k] = v
	}
	return md, nil
}

// sizeFlag is a byte count given as an integer or with a unit: KB, MB,
// GB, TB (powers of 1000) or K, KiB, M, MiB, G, GiB, T, TiB (powers of
// 1024). -1 means no limit.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeFlag) Type() string   { return "SIZE" }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func parseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "-1" {
		return -1, nil
	}
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := v, ""
	if i >= 0 {
		num, unit = v[:i], strings.TrimSpace(v[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (like 1024, 64KiB, 1MB or -1)", v)
	}
	mult := map[string]int64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (use KB, MB, GB, TB, KiB, MiB, GiB or TiB)", v, unit)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return n * mult, nil
}

// bucketJSON describes a bucket in --json output.
type bucketJSON struct {
	Bucket        string            `json:"bucket"`
	Description   string            `json:"description,omitempty"`
	Created       string            `json:"created,omitempty"`
	Values        uint64            `json:"values"`
	Bytes         uint64            `json:"bytes"`
	History       int64             `json:"history"`
	TTL           string            `json:"ttl"`        // Go duration; "0s" is no TTL
	MarkerTTL     string            `json:"marker_ttl"` // "0s" is off
	MaxValueSize  int32             `json:"max_value_size"`
	MaxBucketSize int64             `json:"max_bucket_size"`
	Storage       string            `json:"storage"`
	Replicas      int               `json:"replicas"`
	Compressed    bool              `json:"compressed"`
	FirstRevision uint64            `json:"first_revision"`
	LastRevision  uint64            `json:"last_revision"`
	LastUpdate    string            `json:"last_update,omitempty"`
	Cluster       string            `json:"cluster,omitempty"`
	Leader        string            `json:"leader,omitempty"`
	Peers         []peerJSON        `json:"peers,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

// peerJSON is a replica other than the leader, as the leader sees it.
type peerJSON struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	Seen    string `json:"seen,omitempty"` // Go duration since the leader last heard from it
	Lag     uint64 `json:"lag,omitempty"`  // entries it lacks
}

// describe renders a replica's state as nats stream info does.
func (p peerJSON) describe() string {
	parts := []string{"outdated"}
	if p.Current {
		parts[0] = "current"
	}
	if p.Offline {
		parts = append(parts, "OFFLINE")
	}
	if p.Seen != "" {
		parts = append(parts, "seen "+p.Seen+" ago")
	} else {
		parts = append(parts, "not seen")
	}
	if p.Lag > 0 {
		parts = append(parts, fmt.Sprintf("%d behind", p.Lag))
	}
	return strings.Join(parts, ", ")
}

func toBucketJSON(st jetstream.KeyValueStatus) bucketJSON {
	cfg := st.Config()
	b := bucketJSON{
		Bucket:        st.Bucket(),
		Description:   cfg.Description,
		Values:        st.Values(),
		Bytes:         st.Bytes(),
		History:       st.History(),
		TTL:           st.TTL().String(),
		MarkerTTL:     st.LimitMarkerTTL().String(),
		MaxValueSize:  cfg.MaxValueSize,
		MaxBucketSize: cfg.MaxBytes,
		Storage:       storageName(cfg.Storage),
		Replicas:      cfg.Replicas,
		Compressed:    st.IsCompressed(),
		Metadata:      st.Metadata(),
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		si := bs.StreamInfo()
		if !si.Created.IsZero() {
			b.Created = si.Created.UTC().Format(time.RFC3339Nano)
		}
		b.FirstRevision = si.State.FirstSeq
		b.LastRevision = si.State.LastSeq
		if !si.State.LastTime.IsZero() && si.State.LastSeq > 0 {
			b.LastUpdate = si.State.LastTime.UTC().Format(time.RFC3339Nano)
		}
		if si.Cluster != nil {
			b.Cluster = si.Cluster.Name
			b.Leader = si.Cluster.Leader
			for _, r := range si.Cluster.Replicas {
				p := peerJSON{Name: r.Name, Current: r.Current, Offline: r.Offline, Lag: r.Lag}
				if r.Active > 0 {
					p.Seen = max(r.Active.Round(time.Microsecond), time.Microsecond).String()
				}
				b.Peers = append(b.Peers, p)
			}
		}
	}
	return b
}

// printBucket writes a bucket's status: JSON, or aligned lines.
func (o *clientOptions) printBucket(w io.Writer, st jetstream.KeyValueStatus) error {
	b := toBucketJSON(st)
	if o.json {
		return writeJSON(w, b)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Bucket", b.Bucket)
	if b.Description != "" {
		row("Description", b.Description)
	}
	if b.Created != "" {
		t, _ := time.Parse(time.RFC3339Nano, b.Created)
		row("Created", humanTime(t))
	}
	row("Values", strconv.FormatUint(b.Values, 10))
	row("Size", fmt.Sprintf("%s (%d bytes)", humanBytes(b.Bytes), b.Bytes))
	row("History", strconv.FormatInt(b.History, 10))
	row("TTL", durationOr(st.TTL(), "none (keys do not expire)"))
	row("Marker TTL", durationOr(st.LimitMarkerTTL(), "off (no per-key TTLs)"))
	row("Max value size", limitOr(int64(b.MaxValueSize)))
	row("Max bucket size", limitOr(b.MaxBucketSize))
	row("Storage", b.Storage)
	row("Replicas", strconv.Itoa(b.Replicas))
	row("Compressed", strconv.FormatBool(b.Compressed))
	if b.LastRevision > 0 {
		row("First revision", strconv.FormatUint(b.FirstRevision, 10))
		row("Last revision", strconv.FormatUint(b.LastRevision, 10))
	}
	if b.LastUpdate != "" {
		t, _ := time.Parse(time.RFC3339Nano, b.LastUpdate)
		row("Last update", humanTime(t))
	}
	if b.Cluster != "" {
		row("Cluster", b.Cluster)
	}
	if b.Leader != "" {
		row("Leader", b.Leader)
	}
	for _, p := range b.Peers {
		row("Replica", p.Name+": "+p.describe())
	}
	for _, k := range slices.Sorted(maps.Keys(b.Metadata)) {
		// _nats.* keys are the server's bookkeeping; --json shows them.
		if !strings.HasPrefix(k, "_nats.") {
			row("Metadata "+k, b.Metadata[k])
		}
	}
	return tw.Flush()
}

func durationOr(d time.Duration, zero string) string {
	if d == 0 {
		return zero
	}
	return d.String()
}

func limitOr(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%s (%d bytes)", humanBytes(uint64(n)), n)
}

func newKVInfoCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "info BUCKET",
		Short: "Show a bucket's configuration and state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withBucket(cmd, "info", args[0], func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
				st, err := kv.Status(ctx)
				if err != nil {
					return c.fail("info", args[0], err)
				}
				return o.printBucket(cmd.OutOrStdout(), st)
			})
		},
	}
}

func newKVLsCmd(o *clientOptions) *cobra.Command {
	var namesOnly bool
	cmd := &cobra.Command{
		Use:   "ls [BUCKET [FILTER...]]",
		Short: "List buckets, or the keys of a bucket",
		Long: `Without arguments, list the buckets. With a bucket, list its keys
(deleted keys are left out), optionally only those matching FILTERs:
NATS subject patterns where * matches one dot-separated token and >
the rest ("eu.*", "eu.>").`,
		Example: `  cairn kv ls
  cairn kv ls orders
  cairn kv ls orders 'eu.*' 'us.>'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return o.listBuckets(cmd, namesOnly)
			}
			return o.listKeys(cmd, args[0], args[1:])
		},
	}
	cmd.Flags().BoolVarP(&namesOnly, "names", "n", false, "list bucket names only, one per line")
	return cmd
}

func (o *clientOptions) listBuckets(cmd *cobra.Command, namesOnly bool) error {
	c, err := o.connect("kv ls")
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(cmd.Context())
	defer cancel()
	lister := c.js.KeyValueStores(ctx)
	var all []jetstream.KeyValueStatus
	for st := range lister.Status() {
		all = append(all, st)
	}
	if err := lister.Error(); err != nil {
		return c.fail("ls", "buckets", err)
	}
	if err := ctx.Err(); err != nil {
		return c.fail("ls", "buckets", err)
	}
	slices.SortFunc(all, func(a, b jetstream.KeyValueStatus) int { return strings.Compare(a.Bucket(), b.Bucket()) })
	w := cmd.OutOrStdout()
	switch {
	case o.json:
		for _, st := range all {
			if err := writeJSON(w, toBucketJSON(st)); err != nil {
				return err
			}
		}
		return nil
	case namesOnly:
		for _, st := range all {
			fmt.Fprintln(w, st.Bucket())
		}
		return nil
	case len(all) == 0:
		fmt.Fprintln(w, "No buckets")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tVALUES\tSIZE\tHISTORY\tTTL\tCREATED\tLAST UPDATE\tDESCRIPTION")
	for _, st := range all {
		b := toBucketJSON(st)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", b.Bucket, b.Values, humanBytes(b.Bytes),
			b.History, durationOr(st.TTL(), "-"), rfcToHuman(b.Created), rfcToHuman(b.LastUpdate), b.Description)
	}
	return tw.Flush()
}

func rfcToHuman(s string) string {
	if s == "" {
		return "-"
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return humanTime(t)
}

// keyJSON is one key in `kv ls BUCKET --json` output.
type keyJSON struct {
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	Created  string `json:"created"`
}

func (o *clientOptions) listKeys(cmd *cobra.Command, bucket string, filters []string) error {
	return o.withBucket(cmd, "ls", bucket, func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
		entries, err := initialEntries(ctx, kv, filters, jetstream.IgnoreDeletes(), jetstream.MetaOnly())
		if err != nil {
			return c.fail("ls", bucket, err)
		}
		// A key written during the listing may come twice; keep the latest.
		latest := map[string]jetstream.KeyValueEntry{}
		for _, e := range entries {
			if p, ok := latest[e.Key()]; !ok || e.Revision() > p.Revision() {
				latest[e.Key()] = e
			}
		}
		w := cmd.OutOrStdout()
		for _, k := range slices.Sorted(maps.Keys(latest)) {
			if o.json {
				e := latest[k]
				if err := writeJSON(w, keyJSON{Bucket: bucket, Key: k, Revision: e.Revision(),
					Created: e.Created().UTC().Format(time.RFC3339Nano)}); err != nil {
					return err
				}
				continue
			}
			if _, err := fmt.Fprintln(w, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// initialEntries returns what a watch of filters (all keys when empty)
// delivers before its "initial values done" marker. Unlike the KeyValue
// helpers built on the same watch, it fails instead of returning a short
// list when ctx ends or the connection closes first.
func initialEntries(ctx context.Context, kv jetstream.KeyValue, filters []string,
	opts ...jetstream.WatchOpt,
) ([]jetstream.KeyValueEntry, error) {
	w, err := kv.WatchFiltered(ctx, slices.Clone(filters), opts...)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return nil, jetstream.ErrConnectionClosed
			case e == nil:
				return out, nil
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func newKVRmCmd(o *clientOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm BUCKET",
		Short: "Delete a bucket and all its data",
		Long: `Delete a bucket with all its keys and history. Asks for confirmation
on the terminal unless --force is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.deleteBucket(cmd, "rm", args[0], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete without asking")
	return cmd
}

// deleteBucket is `kv rm BUCKET` and `kv del BUCKET`.
func (o *clientOptions) deleteBucket(cmd *cobra.Command, op, bucket string, force bool) error {
	c, err := o.connect("kv " + op)
	if err != nil {
		return err
	}
	defer c.close()
	// Check the bucket exists before asking about it.
	ctx, cancel := c.ctx(cmd.Context())
	_, err = c.bucket(ctx, op, bucket)
	cancel()
	if err != nil {
		return err
	}
	if !force {
		ok, err := confirm(cmd, fmt.Sprintf("Delete bucket %s with all its keys and history?", bucket))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s %s: not confirmed, nothing deleted (use --force to delete without asking)", op, bucket)
		}
	}
	ctx, cancel = c.ctx(cmd.Context())
	defer cancel()
	if err := c.js.DeleteKeyValue(ctx, bucket); err != nil {
		return c.fail(op, bucket, err)
	}
	if o.json {
		return writeJSON(cmd.OutOrStdout(), struct {
			Bucket    string `json:"bucket"`
			Operation string `json:"operation"`
		}{bucket, "DELETE_BUCKET"})
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted bucket %s\n", bucket)
	return err
}
