package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// watchMarkerLine is printed (without --json) once the initial values
// have been printed and only live updates follow.
const watchMarkerLine = "--- initial values done, watching for updates ---"

// watchMarkerJSON is the --json form of watchMarkerLine.
type watchMarkerJSON struct {
	InitialValuesDone bool `json:"initial_values_done"`
}

func newKVWatchCmd(o *clientOptions) *cobra.Command {
	var (
		history       bool
		updatesOnly   bool
		ignoreDeletes bool
		revision      uint64
	)
	cmd := &cobra.Command{
		Use:   "watch BUCKET [FILTER...]",
		Short: "Print changes to keys as they happen, until Ctrl-C",
		Long: `Print the latest value of every key matching the FILTERs (all keys
without one), then a line saying the initial values are done, then every
change as it happens, until interrupted (Ctrl-C, SIGTERM). Filters are
NATS subject patterns: "eu.*", "eu.>".

--history prints every revision still held instead of only the latest;
--updates-only skips the initial values; --revision N starts at revision N
of the bucket. --json prints one object per entry and
{"initial_values_done":true} for the marker line.`,
		Example: `  cairn kv watch orders
  cairn kv watch orders 'eu.>' --ignore-deletes
  cairn kv watch orders --json | jq .value_string`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, filters := args[0], args[1:]
			if history && updatesOnly {
				return fmt.Errorf("--history and --updates-only cannot be used together")
			}
			var opts []jetstream.WatchOpt
			if history {
				opts = append(opts, jetstream.IncludeHistory())
			}
			if updatesOnly {
				opts = append(opts, jetstream.UpdatesOnly())
			}
			if ignoreDeletes {
				opts = append(opts, jetstream.IgnoreDeletes())
			}
			if revision > 0 {
				opts = append(opts, jetstream.ResumeFromRevision(revision))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.watch(ctx, cmd, bucket, filters, updatesOnly, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&history, "history", false, "print every revision held, not only the latest of each key")
	f.BoolVar(&updatesOnly, "updates-only", false, "print only changes made after the watch starts")
	f.BoolVar(&ignoreDeletes, "ignore-deletes", false, "do not print deletes and purges")
	f.Uint64Var(&revision, "revision", 0, "start at revision `N` of the bucket")
	return cmd
}

// watch prints entries until ctx ends (a clean exit) or the watch fails.
func (o *clientOptions) watch(ctx context.Context, cmd *cobra.Command, bucket string, filters []string,
	updatesOnly bool, opts []jetstream.WatchOpt,
) error {
	c, err := o.connect("kv watch")
	if err != nil {
		return err
	}
	defer c.close()
	// Binding to the bucket is bounded by --timeout.
	bindCtx, cancel := c.ctx(ctx)
	defer cancel()
	kv, err := c.bucket(bindCtx, "watch", bucket)
	if err != nil {
		return err
	}
	// nats.go ends the watch when the context given to WatchFiltered
	// ends, so that context is ctx itself; --timeout bounds the start of
	// the watch from here instead.
	type started struct {
		w   jetstream.KeyWatcher
		err error
	}
	startc := make(chan started, 1)
	go func() {
		w, err := kv.WatchFiltered(ctx, slices.Clone(filters), opts...)
		startc <- started{w, err}
	}()
	var w jetstream.KeyWatcher
	select {
	case s := <-startc:
		if s.err != nil {
			return c.fail("watch", bucket, s.err)
		}
		w = s.w
	case <-bindCtx.Done():
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return c.fail("watch", bucket, bindCtx.Err())
	}
	defer w.Stop()

	out := cmd.OutOrStdout()
	marker := func() error {
		if o.json {
			return writeJSON(out, watchMarkerJSON{InitialValuesDone: true})
		}
		_, err := fmt.Fprintln(out, watchMarkerLine)
		return err
	}
	// nats.go sends no marker with UpdatesOnly: there are no initial values.
	if updatesOnly {
		if err := marker(); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return c.fail("watch", bucket, jetstream.ErrConnectionClosed)
			}
			if e == nil {
				err = marker()
			} else {
				err = o.printWatched(out, e)
			}
			if err != nil {
				return err
			}
		}
	}
}

func (o *clientOptions) printWatched(out io.Writer, e jetstream.KeyValueEntry) error {
	if o.json {
		return writeJSON(out, toEntryJSON(e))
	}
	var err error
	switch e.Operation() {
	case jetstream.KeyValuePut:
		_, err = fmt.Fprintf(out, "[%s] PUT %s > %s revision: %d: %s\n", humanTime(e.Created()),
			e.Bucket(), e.Key(), e.Revision(), inline(e.Value()))
	default:
		_, err = fmt.Fprintf(out, "[%s] %s %s > %s revision: %d\n", humanTime(e.Created()),
			opName(e.Operation()), e.Bucket(), e.Key(), e.Revision())
	}
	return err
}
