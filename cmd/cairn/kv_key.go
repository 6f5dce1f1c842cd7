package main

// Key verbs: kv put, get, create, update, del, purge, history.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// target names a key in messages: "orders/eu.1".
func target(bucket, key string) string { return bucket + "/" + key }

// printWrite reports a successful write.
func (o *clientOptions) printWrite(cmd *cobra.Command, r resultJSON) error {
	w := cmd.OutOrStdout()
	if o.json {
		return writeJSON(w, r)
	}
	var err error
	switch r.Operation {
	case "DEL":
		_, err = fmt.Fprintf(w, "deleted %s > %s\n", r.Bucket, r.Key)
	case "PURGE":
		_, err = fmt.Fprintf(w, "purged %s > %s\n", r.Bucket, r.Key)
	default:
		_, err = fmt.Fprintf(w, "%s > %s revision: %d\n", r.Bucket, r.Key, r.Revision)
	}
	return err
}

func newKVPutCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "put BUCKET KEY [VALUE]",
		Short: "Set a key's value (read from stdin when VALUE is omitted)",
		Example: `  cairn kv put orders eu.1 '{"qty":3}'
  cairn kv put config tls.pem < cert.pem`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			value, err := readValue(cmd, args, 2)
			if err != nil {
				return err
			}
			return o.withBucket(cmd, "put", bucket, func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
				rev, err := kv.Put(ctx, key, value)
				if err != nil {
					return c.fail("put", target(bucket, key), err)
				}
				return o.printWrite(cmd, resultJSON{Bucket: bucket, Key: key, Operation: "PUT", Revision: rev})
			})
		},
	}
}

func newKVGetCmd(o *clientOptions) *cobra.Command {
	var (
		revision uint64
		raw      bool
	)
	cmd := &cobra.Command{
		Use:   "get BUCKET KEY",
		Short: "Show a key's value",
		Long: `Show a key's latest value, or the value at --revision (which must be a
revision of this key still in its history). --raw prints only the value's
bytes, for piping.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			if raw && o.json {
				return errors.New("--raw and --json cannot be used together")
			}
			return o.withBucket(cmd, "get", bucket, func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
				var (
					e   jetstream.KeyValueEntry
					err error
				)
				if revision > 0 {
					e, err = kv.GetRevision(ctx, key, revision)
				} else {
					e, err = kv.Get(ctx, key)
				}
				if errors.Is(err, jetstream.ErrKeyNotFound) {
					return c.fail("get", target(bucket, key), notFound(ctx, kv, key, revision))
				}
				if err != nil {
					return c.fail("get", target(bucket, key), err)
				}
				w := cmd.OutOrStdout()
				switch {
				case o.json:
					return writeJSON(w, toEntryJSON(e))
				case raw:
					_, err = w.Write(e.Value())
					return err
				}
				v := printable(e.Value())
				if !strings.HasSuffix(v, "\n") {
					v += "\n"
				}
				_, err = fmt.Fprintf(w, "%s > %s revision: %d created @ %s\n\n%s",
					e.Bucket(), e.Key(), e.Revision(), humanTime(e.Created()), v)
				return err
			})
		},
	}
	cmd.Flags().Uint64Var(&revision, "revision", 0, "show revision `N` of the key instead of the latest")
	cmd.Flags().BoolVar(&raw, "raw", false, "print only the value, without a trailing newline")
	return cmd
}

// notFound explains a "key not found" from get: when the key's latest
// entry is a delete or purge marker, it says so and at which revision.
func notFound(ctx context.Context, kv jetstream.KeyValue, key string, revision uint64) error {
	if revision > 0 {
		return fmt.Errorf("revision %d of the key not found", revision)
	}
	entries, err := initialEntries(ctx, kv, []string{key}, jetstream.MetaOnly())
	if err != nil || len(entries) == 0 {
		return jetstream.ErrKeyNotFound
	}
	last := entries[len(entries)-1]
	switch last.Operation() {
	case jetstream.KeyValueDelete:
		return fmt.Errorf("key not found (deleted at revision %d)", last.Revision())
	case jetstream.KeyValuePurge:
		return fmt.Errorf("key not found (purged at revision %d)", last.Revision())
	}
	return jetstream.ErrKeyNotFound
}

// ttlHint adds what to do to the server's refusal of a per-key TTL.
func ttlHint(err error, ttl time.Duration) error {
	var apiErr *jetstream.APIError
	if ttl > 0 && errors.As(err, &apiErr) && strings.Contains(strings.ToLower(apiErr.Description), "ttl") {
		return fmt.Errorf("%s (per-key TTLs need a bucket made with --marker-ttl)", apiErr.Description)
	}
	return err
}

// actualRevision is the key's latest revision as a failed compare-and-set
// reports it ("wrong last sequence: 5"), and whether the error said.
func actualRevision(err error) (uint64, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return 0, false
	}
	_, n, ok := strings.Cut(apiErr.Description, "wrong last sequence: ")
	if !ok {
		return 0, false
	}
	r, perr := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
	return r, perr == nil
}

// casError explains a failed compare-and-set on a key: what revision the
// command expected and what the key is actually at.
func casError(err error, expected uint64) error {
	actual, ok := actualRevision(err)
	switch {
	case !ok:
		return fmt.Errorf("wrong revision %d: it is not the key's latest revision", expected)
	case actual == 0:
		return fmt.Errorf("wrong revision %d: the key does not exist", expected)
	default:
		return fmt.Errorf("wrong revision %d: the key's latest revision is %d", expected, actual)
	}
}

func newKVCreateCmd(o *clientOptions) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create BUCKET KEY [VALUE]",
		Short: "Set a key's value only if the key does not exist (or is deleted)",
		Long: `Set a key's value only if the key has no value: it never existed, or its
latest revision is a delete or purge. VALUE is read from stdin when omitted.
--ttl removes the key after that long; the bucket needs --marker-ttl.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			value, err := readValue(cmd, args, 2)
			if err != nil {
				return err
			}
			return o.withBucket(cmd, "create", bucket, func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
				var opts []jetstream.KVCreateOpt
				if ttl > 0 {
					opts = append(opts, jetstream.KeyTTL(ttl))
				}
				rev, err := kv.Create(ctx, key, value, opts...)
				err = ttlHint(err, ttl)
				if errors.Is(err, jetstream.ErrKeyExists) {
					if actual, ok := actualRevision(err); ok && actual > 0 {
						err = fmt.Errorf("key exists (at revision %d)", actual)
					} else {
						err = errors.New("key exists")
					}
				}
				if err != nil {
					return c.fail("create", target(bucket, key), err)
				}
				return o.printWrite(cmd, resultJSON{Bucket: bucket, Key: key, Operation: "PUT", Revision: rev})
			})
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "remove the key after this long (the bucket needs --marker-ttl)")
	return cmd
}

func newKVUpdateCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "update BUCKET KEY VALUE REVISION",
		Short: "Set a key's value only if its latest revision is REVISION",
		Long: `Compare and set: write VALUE only if the key's latest revision is
REVISION. Otherwise nothing is written, the error says the key's actual
revision and the exit status is 1.`,
		Args: cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key, value := args[0], args[1], []byte(args[2])
			expected, err := parseRevision(args[3])
			if err != nil {
				return err
			}
			return o.withBucket(cmd, "update", bucket, func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
				rev, err := kv.Update(ctx, key, value, expected)
				if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
					err = casError(err, expected)
				}
				if err != nil {
					return c.fail("update", target(bucket, key), err)
				}
				return o.printWrite(cmd, resultJSON{Bucket: bucket, Key: key, Operation: "PUT", Revision: rev})
			})
		},
	}
}

func newKVDelCmd(o *clientOptions) *cobra.Command {
	var (
		lastRevision uint64
		force        bool
	)
	cmd := &cobra.Command{
		Use:   "del BUCKET [KEY]",
		Short: "Delete a key (its history stays), or with no KEY the whole bucket",
		Long: `Delete a key: a delete marker becomes its latest revision and earlier
revisions stay in its history (see kv purge to drop them). With
--last-revision, delete only if the key's latest revision is that one.

Without KEY, delete the bucket with all its data, asking first unless
--force is given (like kv rm).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := args[0]
			if len(args) == 1 {
				if cmd.Flags().Changed("last-revision") {
					return errors.New("--last-revision needs a KEY")
				}
				return o.deleteBucket(cmd, "del", bucket, force)
			}
			key := args[1]
			return o.withBucket(cmd, "del", bucket, func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
				var opts []jetstream.KVDeleteOpt
				if lastRevision > 0 {
					opts = append(opts, jetstream.LastRevision(lastRevision))
				}
				err := kv.Delete(ctx, key, opts...)
				if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
					err = casError(err, lastRevision)
				}
				if err != nil {
					return c.fail("del", target(bucket, key), err)
				}
				return o.printWrite(cmd, resultJSON{Bucket: bucket, Key: key, Operation: "DEL"})
			})
		},
	}
	cmd.Flags().Uint64Var(&lastRevision, "last-revision", 0, "delete only if the key's latest revision is `N`")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete a bucket without asking")
	return cmd
}

func newKVPurgeCmd(o *clientOptions) *cobra.Command {
	var (
		lastRevision uint64
		ttl          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "purge BUCKET KEY",
		Short: "Delete a key and drop its history",
		Long: `Delete a key and drop all its earlier revisions: only a purge marker
stays. --ttl removes that marker too after that long (the bucket needs
--marker-ttl). With --last-revision, purge only if the key's latest
revision is that one.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			return o.withBucket(cmd, "purge", bucket, func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
				var opts []jetstream.KVDeleteOpt
				if lastRevision > 0 {
					opts = append(opts, jetstream.LastRevision(lastRevision))
				}
				if ttl > 0 {
					opts = append(opts, jetstream.PurgeTTL(ttl))
				}
				err := ttlHint(kv.Purge(ctx, key, opts...), ttl)
				if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
					err = casError(err, lastRevision)
				}
				if err != nil {
					return c.fail("purge", target(bucket, key), err)
				}
				return o.printWrite(cmd, resultJSON{Bucket: bucket, Key: key, Operation: "PURGE"})
			})
		},
	}
	cmd.Flags().Uint64Var(&lastRevision, "last-revision", 0, "purge only if the key's latest revision is `N`")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "remove the purge marker after this long (the bucket needs --marker-ttl)")
	return cmd
}

func newKVHistoryCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "history BUCKET KEY",
		Short: "Show the revisions of a key the bucket still holds",
		Long: `Show every revision of a key that the bucket keeps (see kv add
--history), oldest first, deletes and purges included.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			return o.withBucket(cmd, "history", bucket, func(ctx context.Context, c *client, kv jetstream.KeyValue) error {
				entries, err := initialEntries(ctx, kv, []string{key}, jetstream.IncludeHistory())
				if err == nil && len(entries) == 0 {
					err = jetstream.ErrKeyNotFound
				}
				if err != nil {
					return c.fail("history", target(bucket, key), err)
				}
				w := cmd.OutOrStdout()
				if o.json {
					for _, e := range entries {
						if err := writeJSON(w, toEntryJSON(e)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "KEY\tREVISION\tOP\tCREATED\tLENGTH\tVALUE")
				for _, e := range entries {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", e.Key(), e.Revision(), opName(e.Operation()),
						humanTime(e.Created()), len(e.Value()), preview(e.Value()))
				}
				return tw.Flush()
			})
		},
	}
}
