package main

// `cairn mount` and `cairn unmount`: a bucket as a filesystem (FUSE),
// through the NATS KV protocol, so it mounts buckets of cairn and of
// nats-server alike. docs/fuse.md is the guide.

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairnkv/cairn/fusefs"
	"github.com/spf13/cobra"
)

func init() {
	registerCommand(newMountCmd)
	registerCommand(newUnmountCmd)
}

func newMountCmd() *cobra.Command {
	o := &clientOptions{}
	var (
		readOnly   bool
		allowOther bool
		debugFUSE  bool
		cacheBytes int64
		logc       = logConfig{Level: "info", Format: "text"}
	)
	cmd := &cobra.Command{
		Use:   "mount BUCKET DIR",
		Short: "Mount a bucket as a filesystem (FUSE) until Ctrl-C or `cairn unmount DIR`",
		Long: `Mount the key/value bucket BUCKET on the directory DIR and serve it in the
foreground until SIGINT/SIGTERM (Ctrl-C) or ` + "`cairn unmount DIR`" + `; either way the
filesystem is unmounted cleanly (lazily, with a warning, if something still
uses it).

Keys are paths: the key a.b.c is the file a/b/c. Names that keys cannot
hold are escaped (notes.txt is the key notes=2Etxt); see docs/fuse.md.
A file is written as one new revision when it is closed; rename is a
revision-checked copy and delete. Changes made elsewhere show within a
second. Needs /dev/fuse and fusermount3 (package fuse3) unless run as root.

-s/--server takes NATS URLs of cairn nodes or of a nats-server with
JetStream (or set ` + envServer + `); --timeout bounds every request, after which
the operation fails with EIO.`,
		Example: `  cairn mount files /mnt/files
  cairn mount files /mnt/files -s nats://node1:4222,nats://node2:4222 --read-only
  cairn unmount /mnt/files`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, dir := args[0], args[1]
			if fi, err := os.Stat(dir); err != nil {
				return fmt.Errorf("mount point: %w", err)
			} else if !fi.IsDir() {
				return fmt.Errorf("mount point %s is not a directory", dir)
			}
			if o.timeout <= 0 {
				return fmt.Errorf("--timeout must be positive, got %s", o.timeout)
			}
			lg, err := newLogger(cmd.ErrOrStderr(), logc)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			m, err := fusefs.MountNATS(ctx, dir, fusefs.Config{
				Servers:     o.servers(),
				Bucket:      bucket,
				NATSOptions: o.creds.natsOptions(),
				Options: fusefs.Options{
					ReadOnly:   readOnly,
					Timeout:    o.timeout,
					CacheBytes: cacheBytes,
					AllowOther: allowOther,
					Debug:      debugFUSE,
					Logger:     lg,
				},
			})
			if err != nil {
				return err
			}
			select {
			case <-m.Done():
				return nil // unmounted from outside
			case <-ctx.Done():
			}
			stop() // a second signal ends the process at once
			if err := m.Unmount(); err != nil {
				lg.Warn("the mount is in use; detaching it lazily", "err", err)
				return m.UnmountLazy()
			}
			return nil
		},
	}
	f := cmd.Flags()
	o.addConnFlags(f)
	f.BoolVar(&readOnly, "read-only", false, "mount read-only: every change fails with EROFS")
	f.BoolVar(&allowOther, "allow-other", false, "let other users use the mount (needs user_allow_other in /etc/fuse.conf unless root)")
	f.Int64Var(&cacheBytes, "cache-bytes", fusefs.DefaultOptions().CacheBytes, "bytes of values to keep in memory, so reading them needs no request")
	f.BoolVar(&debugFUSE, "debug-fuse", false, "log every FUSE request (with --log-level debug)")
	f.StringVar(&logc.Level, "log-level", logc.Level, "log `LEVEL`: debug, info, warn or error")
	f.StringVar(&logc.Format, "log-format", logc.Format, "log `FORMAT`: text or json")
	return cmd
}

func newUnmountCmd() *cobra.Command {
	var lazy bool
	cmd := &cobra.Command{
		Use:   "unmount DIR",
		Short: "Unmount a bucket mounted with `cairn mount` or `cairn node --mount`",
		Long: `Unmount the cairn filesystem on DIR; the process serving it (cairn mount, or
a node's --mount) carries on without it (cairn mount exits). It fails if
DIR is not a cairn mount, or while a process uses it (its working
directory or an open file) unless --lazy detaches it anyway.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := fusefs.Unmount(args[0], lazy)
			if errors.Is(err, fusefs.ErrNotMounted) {
				return fmt.Errorf("%s is not a cairn mount", args[0])
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&lazy, "lazy", "z", false, "detach the mount even while it is in use")
	return cmd
}
