package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/nats-io/nats.go"
	"log/slog"

	"github.com/cairnkv/cairn/fusefs"
)

// startNodeMounts mounts each BUCKET:DIR of `cairn node --mount` through
// the node's own client URL (the mount is a NATS client like any other)
// and returns a function that unmounts them all. If one mount fails, the
// ones already made are unmounted and the error returned.
func startNodeMounts(ctx context.Context, specs []string, clientURL string, creds []nats.Option, lg *slog.Logger) (func() error, error) {
	var mounts []*fusefs.Mount
	unmountAll := func() error {
		var errs []error
		for _, m := range mounts {
			if err := m.Unmount(); err != nil {
				lg.Warn("a mount is in use; detaching it lazily", "dir", m.Dir(), "err", err)
				if err := m.UnmountLazy(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		return errors.Join(errs...)
	}
	for _, spec := range specs {
		bucket, dir, err := fusefs.ParseSpec(spec)
		if err == nil {
			var m *fusefs.Mount
			m, err = fusefs.MountNATS(ctx, dir, fusefs.Config{
				Servers:     clientURL,
				Bucket:      bucket,
				NATSOptions: creds,
				Options:     fusefs.Options{Logger: lg},
			})
			if err == nil {
				mounts = append(mounts, m)
				continue
			}
		}
		return nil, errors.Join(fmt.Errorf("--mount %s: %w", spec, err), unmountAll())
	}
	return unmountAll, nil
}
