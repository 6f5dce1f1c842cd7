package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	// Ready is set with --ready: the node's /readyz answered 200.
	Ready   *bool    `json:"ready,omitempty"`
	Reasons []string `json:"not_ready_reasons,omitempty"`
	Error   string   `json:"error,omitempty"`
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

// healthOptions are cairn health's flags: the NATS connection, and with
// --ready the HTTP API whose /readyz must answer 200 too.
type healthOptions struct {
	clientOptions
	ready   bool
	httpURL httpOptions
}

func newHealthCmd() *cobra.Command {
	o := &healthOptions{}
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if a node answers the JetStream API, 1 if not (for health checks)",
		Long: `Connect to a node and ask its JetStream API for account information
($JS.API.INFO). The node answers only when it can read its buckets. Exit
status 0 and one line on stdout when it does; exit status 1 and a one-line
reason on stderr when it does not, or when nothing answers within --timeout.

That is a liveness check: a node cut off from the rest of its cluster
still answers. With --ready the node's HTTP /readyz must answer 200 as
well: the node is joined, knows a meta leader, and every bucket replica it
holds knows a leader and has caught up (a quorum answered). Use it where
"ready to serve" is meant, as etcdctl endpoint health checks quorum.

Suited to container health checks, with no shell needed:
  HEALTHCHECK CMD ["cairn", "health", "-s", "nats://127.0.0.1:4222"]
  HEALTHCHECK CMD ["cairn", "health", "--ready", "--http", "http://127.0.0.1:8222"]`,
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
				ready := ""
				if h.Ready != nil {
					ready = ", ready"
				}
				fmt.Fprintf(w, "ok: %s answered in %.1fms (%d buckets, JetStream API level %d%s)\n",
					h.Server, h.Latency, h.Buckets, h.APILevel, ready)
			}
			if err != nil {
				return fmt.Errorf("unhealthy: %w", err)
			}
			return nil
		},
	}
	o.addConnFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as one JSON object")
	cmd.Flags().BoolVar(&o.ready, "ready", false, "also require the node's /readyz to answer 200 (joined, quorum, caught up)")
	cmd.Flags().StringVar(&o.httpURL.url, "http", "", "with --ready: the node's HTTP API `URL` (or set "+envHTTP+"; default "+defaultHTTPURL+")")
	return cmd
}

// readyz asks the node's /readyz, within the --timeout.
func (o *healthOptions) readyz(cmd *cobra.Command, h *healthJSON) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	url := o.httpURL.base() + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client, err := o.creds.httpClient()
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s: %w", url, o.creds.explain(err))
	}
	defer res.Body.Close()
	var body struct {
		Reasons []string `json:"reasons"`
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body)
	ready := res.StatusCode == http.StatusOK
	h.Ready, h.Reasons = &ready, body.Reasons
	if !ready {
		if len(body.Reasons) == 0 {
			return fmt.Errorf("%s answered HTTP %s", url, res.Status)
		}
		return fmt.Errorf("not ready: %s", strings.Join(body.Reasons, "; "))
	}
	return nil
}

func (o *healthOptions) health(cmd *cobra.Command) (healthJSON, error) {
	h, err := o.clientOptions.health(cmd)
	if err != nil || !o.ready {
		return h, err
	}
	if err := o.readyz(cmd, &h); err != nil {
		return h, err
	}
	return h, nil
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
