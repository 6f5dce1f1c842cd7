package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/frontdoor"
	"github.com/cairnkv/cairn/node/httpapi"
	"github.com/cairnkv/cairn/node/jetstream"
	"github.com/spf13/cobra"
)

const flagPrintConfig = "print-config"

// Log messages that scripts and tests wait for.
const (
	msgStarted = "cairn node started"
	msgStopped = "cairn node stopped"
)

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a cairn node",
		Long: `Run a cairn node: open (or initialize) the data directory, start the
node's raft groups and serve until SIGINT, SIGTERM or SIGUSR2 (what
"nats-server --signal ldm" sends), then stop cleanly: lame duck first.

Configuration comes from flags, CAIRN_* environment variables (the flag name
in upper case with dashes as underscores: --data-dir is CAIRN_DATA_DIR), a
YAML file given with --config (keys are the flag names), and built-in
defaults, in that order of precedence. --print-config shows the result.

A data directory that holds files cairn did not write, or a damaged
database, is refused: the node exits with status 1 and names the path.`,
		Example: `  cairn node --data-dir ./data/node1
  CAIRN_LOG_FORMAT=json cairn node --config cairn.yaml
  cairn node --config cairn.yaml --print-config`,
		Args: cobra.NoArgs,
		RunE: runNode,
	}
	addNodeFlags(cmd.Flags())
	cmd.Flags().Bool(flagPrintConfig, false, "print the effective configuration as YAML and exit")
	return cmd
}

func runNode(cmd *cobra.Command, _ []string) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	if printOnly, _ := cmd.Flags().GetBool(flagPrintConfig); printOnly {
		if err := cfg.validate(false); err != nil {
			return err
		}
		return writeConfigYAML(cmd.OutOrStdout(), cfg)
	}
	if err := cfg.validate(true); err != nil {
		return err
	}
	lg, err := newLogger(cmd.ErrOrStderr(), cfg.Log)
	if err != nil {
		return err
	}
	slog.SetDefault(lg)
	cfg.Node.Logger = lg
	applyGCPercent(cfg.GCPercent, lg)
	return serveNode(cmd.Context(), cfg, lg)
}

// serveNode runs a node until ctx ends or SIGINT/SIGTERM/SIGUSR2 arrives, then
// closes it. A second signal during shutdown kills the process.
func serveNode(ctx context.Context, full config, lg *slog.Logger) error {
	cfg := full.Node
	// SIGUSR2 is what `nats-server --signal ldm` sends: lame duck, and
	// then stop, as nats-server does after its lame-duck period.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGUSR2)
	defer stop()

	node.Version = buildVersion().Version
	n, err := node.New(cfg)
	if err != nil {
		return fmt.Errorf("starting node: %w", err)
	}
	fd, err := frontdoor.Start(ctx, n, lg)
	if err != nil {
		_ = n.Close()
		return fmt.Errorf("starting node: %w", err)
	}
	api := httpapi.New(n, httpapi.Options{Logger: lg})
	for _, c := range fd.Collectors() {
		api.Registry().MustRegister(c)
	}
	if err := api.Start(ctx); err != nil {
		_ = fd.Close()
		_ = n.Close()
		return fmt.Errorf("starting node: %w", err)
	}
	lg.Info(msgStarted,
		"node-id", fmt.Sprintf("%016x", n.NodeID()),
		"name", cfg.Name,
		"data-dir", cfg.DataDir,
		"client-url", fd.ClientURL(),
		"http-url", api.URL(),
		"peer-addr", cfg.PeerAddr,
		"gossip-addr", cfg.GossipAddr,
		"pid", os.Getpid())

	unmount, err := startNodeMounts(ctx, full.Mount.Mounts, fd.ClientURL(), jetstream.SelfOptions(n), lg)
	if err != nil {
		_ = api.Close()
		_ = fd.Close()
		_ = n.Close()
		return fmt.Errorf("starting node: %w", err)
	}

	<-ctx.Done()
	stop()
	lg.Info("shutting down", "reason", context.Cause(ctx).Error())
	mountErr := unmount()
	// Clients stay connected while leaderships move, so requests in
	// flight finish; then no more requests are read, those taken are
	// answered, and only then are clients cut off, to reconnect
	// elsewhere.
	api.ShuttingDown()
	fd.LameDuck(n)
	n.HandOff()
	fd.Drain()
	apiErr := api.Close()
	fdErr := fd.Close()
	if err := errors.Join(mountErr, apiErr, fdErr, n.Close()); err != nil {
		return fmt.Errorf("closing node: %w", err)
	}
	lg.Info(msgStopped, "node-id", fmt.Sprintf("%016x", n.NodeID()))
	return nil
}
