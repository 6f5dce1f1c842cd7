package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// healthJSON is `cairn health --json` output.
type healthJSON struct {
	Healthy  bool    `json:"healthy"`
	Server   string  `json:"server"`
	Latency  float64 `json:"latency_ms,omitempty"`
	Buckets  int     `json:"buckets"`
	APILevel int     `json:"api_level,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// jsAccountInfo is the part of the $JS.API.INFO answer health looks at.
type jsAccountInfo struct {
	Type  string `json:"type"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Streams int `json:"streams"`
	API     struct {
		Level int `json:"level"`
	} `json:"api"`
}

func newHealthCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if a node answers the JetStream API, 1 if not (for health checks)",
		Long: `Connect to a node and ask its JetStream API for account information
($JS.API.INFO). The node answers only when it can read its buckets. Exit
status 0 and one line on stdout when it does; exit status 1 and a one-line
reason on stderr when it does not, or when nothing answers within --timeout.

Suited to container health checks, with no shell needed:
  HEALTHCHECK CMD ["cairn", "health", "-s", "nats://127.0.0.1:4222"]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := o.health(cmd)
			if err != nil {
				h.Healthy, h.Error = false, err.Error()
			}
			w := cmd.OutOrStdout()
			if o.json {
				if werr := writeJSON(w, h); werr != nil && err == nil {
					return werr
				}
			} else if err == nil {
				fmt.Fprintf(w, "ok: %s answered in %.1fms (%d buckets, JetStream API level %d)\n",
					h.Server, h.Latency, h.Buckets, h.APILevel)
			}
			if err != nil {
				return fmt.Errorf("unhealthy: %w", err)
			}
			return nil
		},
	}
	o.addConnFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as one JSON object")
	return cmd
}

func (o *clientOptions) health(cmd *cobra.Command) (healthJSON, error) {
	h := healthJSON{Server: o.servers()}
	c, err := o.connect("health")
	if err != nil {
		return h, err
	}
	defer c.close()
	if u := c.nc.ConnectedUrlRedacted(); u != "" {
		h.Server = u
	}
	ctx, cancel := c.ctx(cmd.Context())
	defer cancel()
	start := time.Now()
	msg, err := c.nc.RequestWithContext(ctx, "$JS.API.INFO", nil)
	if err != nil {
		return h, errors.New(c.describe(err))
	}
	h.Latency = float64(time.Since(start).Microseconds()) / 1000
	var info jsAccountInfo
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		return h, fmt.Errorf("%s answered $JS.API.INFO with something that is not JSON: %v", h.Server, err)
	}
	if info.Error != nil {
		return h, fmt.Errorf("%s answered $JS.API.INFO with error %d: %s", h.Server, info.Error.ErrCode, info.Error.Description)
	}
	h.Healthy, h.Buckets, h.APILevel = true, info.Streams, info.API.Level
	return h, nil
}
