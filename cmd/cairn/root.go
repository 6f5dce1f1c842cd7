package main

import "github.com/spf13/cobra"

// newRootCmd builds the command tree. Each subcommand lives in its own
// file as a newXxxCmd constructor; adding one is a new file plus one line
// here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "cairn is a distributed key/value database with the NATS JetStream KV model",
		Long: `cairn is a distributed key/value database with the data model and wire
protocol of NATS JetStream Key/Value, built on etcd-raft and Pebble.`,
		// main prints errors once; usage is shown only for command-line
		// mistakes, not for errors that happen while running.
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			cmd.SilenceUsage = true
		},
	}
	root.PersistentFlags().String(flagConfig, "", "YAML configuration `FILE` (or set CAIRN_CONFIG)")
	root.AddCommand(
		newNodeCmd(),
		newVersionCmd(),
		newKVCmd(),
		newHealthCmd(),
		newBucketCmd(),
	)
	for _, build := range extraCommands {
		root.AddCommand(build())
	}
	return root
}

// extraCommands are subcommands that live in files of their own (mount,
// bench, chaos, ...) and add themselves with registerCommand from an init
// function, so that adding one does not touch this file.
var extraCommands []func() *cobra.Command

// registerCommand adds a subcommand constructor to the root command.
func registerCommand(build func() *cobra.Command) {
	extraCommands = append(extraCommands, build)
}
