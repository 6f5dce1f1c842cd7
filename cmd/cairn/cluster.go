package main

// Cluster operations over a node's HTTP API: cairn cluster status, nodes,
// remove-node, step-down, move-replica, transfer-leader.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newClusterCmd) }

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "See and operate the cluster (through a node's HTTP API)",
		Long: `See the cluster as a node sees it, and operate it: take a node out for
good, move the meta group's leadership, move a bucket's replica or its
leadership. Any node can be asked (--http, else ` + envHTTP + `, else
` + defaultHTTPURL + `).

Nodes are named by their ID (16 hex digits, as "cairn cluster nodes"
shows) or by their name. Output is a table by default; --json prints the
node's answer as one JSON object, for scripts.`,
		Example: `  cairn cluster status
  cairn cluster nodes --http http://127.0.0.1:8223
  cairn cluster move-replica orders node1 node3
  cairn cluster transfer-leader orders node2
  cairn cluster step-down
  cairn cluster remove-node node3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newClusterStatusCmd(), newClusterNodesCmd(), newClusterRemoveNodeCmd(),
		newClusterStepDownCmd(), newClusterMoveReplicaCmd(), newClusterTransferLeaderCmd())
	return cmd
}

// clusterView is the part of GET /v1/cluster the commands print.
type clusterView struct {
	Self       string        `json:"self"`
	MetaLeader string        `json:"meta_leader"`
	Clustered  bool          `json:"clustered"`
	Members    []clusterNode `json:"members"`
	Groups     []struct {
		Group    uint64   `json:"group"`
		Bucket   string   `json:"bucket"`
		Leader   string   `json:"leader"`
		Replicas []string `json:"replicas"`
		Applied  uint64   `json:"applied"`
		LastRev  uint64   `json:"last_revision"`
		Local    bool     `json:"local"`
		Lag      *uint64  `json:"lag"`
		NotReady string   `json:"not_ready"`
	} `json:"groups"`
}

type clusterNode struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Self       bool   `json:"self"`
	ClientAddr string `json:"client_addr"`
	HTTPAddr   string `json:"http_addr"`
	State      string `json:"state"`
	MetaRole   string `json:"meta_role"`
	Replicas   int    `json:"replicas"`
	Preferred  int    `json:"leaders_preferred"`
}

// name renders a node ID as its name when the view knows it.
func (v *clusterView) name(id string) string {
	if id == "" {
		return "-"
	}
	for _, m := range v.Members {
		if m.ID == id && m.Name != "" {
			return m.Name
		}
	}
	return id
}

// call makes one request to the HTTP API: body (if not nil) is sent as
// JSON; a 2xx answer is decoded into out and also returned raw; any other
// answer is an error with the node's message.
func (o *httpOptions) call(ctx context.Context, op, method, path string, body, out any) (json.RawMessage, error) {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.base()+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := o.do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return nil, httpError(op, res)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s: the answer is not what a cairn node sends: %w", op, err)
		}
	}
	return raw, nil
}

// view fetches GET /v1/cluster.
func (o *httpOptions) view(ctx context.Context, op string) (*clusterView, json.RawMessage, error) {
	var v clusterView
	raw, err := o.call(ctx, op, "GET", "/v1/cluster", nil, &v)
	if err != nil {
		return nil, nil, err
	}
	return &v, raw, nil
}

// printRaw prints a node's JSON answer compacted on one line.
func printRaw(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func newClusterStatusCmd() *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the nodes, the meta leader and every bucket's replicas and leader",
		Long: `Show the cluster as the node asked sees it: each node with its state in
gossip (alive, suspect, failed, left, removed) and its role in the meta
group, then each bucket's raft group with its replicas (preferred leader
first) and current leader. LAG is how many log entries the asked node's
replica applied while catching up for the request ("-": it holds none).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, raw, err := o.view(cmd.Context(), "cluster status")
			if err != nil {
				return err
			}
			if o.json {
				return printRaw(cmd.OutOrStdout(), raw)
			}
			return printStatus(cmd.OutOrStdout(), v, o.base())
		},
	}
	o.addFlags(cmd)
	return cmd
}

func printStatus(w io.Writer, v *clusterView, asked string) error {
	leader := "none known"
	if v.MetaLeader != "" {
		leader = v.name(v.MetaLeader) + " (" + v.MetaLeader + ")"
	}
	what := "cluster"
	if !v.Clustered {
		what = "single node (not clustered)"
	}
	fmt.Fprintf(w, "%s of %d nodes, meta leader %s, as %s at %s sees it\n\n", what, len(v.Members), leader, v.name(v.Self), asked)
	if err := printNodes(w, v); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(v.Groups) == 0 {
		_, err := fmt.Fprintln(w, "no buckets")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tGROUP\tLEADER\tREPLICAS\tAPPLIED\tLAST REV\tLAG")
	for _, g := range v.Groups {
		names := make([]string, len(g.Replicas))
		for i, id := range g.Replicas {
			names[i] = v.name(id)
		}
		lag := "-"
		switch {
		case g.NotReady != "":
			lag = "not caught up"
		case g.Lag != nil:
			lag = fmt.Sprint(*g.Lag)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%s\n", g.Bucket, g.Group, v.name(g.Leader), strings.Join(names, ","), g.Applied, g.LastRev, lag)
	}
	return tw.Flush()
}

func printNodes(w io.Writer, v *clusterView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSTATE\tMETA\tCLIENT\tHTTP\tREPLICAS\tPREFERRED LEADER OF")
	members := slices.Clone(v.Members)
	slices.SortStableFunc(members, func(a, b clusterNode) int { return strings.Compare(a.Name, b.Name) })
	for _, m := range members {
		name := m.Name
		if m.Self {
			name += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", name, m.ID, m.State, m.MetaRole, orDash(m.ClientAddr), orDash(m.HTTPAddr), m.Replicas, m.Preferred)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newClusterNodesCmd() *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the cluster's nodes (* marks the node asked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, _, err := o.view(cmd.Context(), "cluster nodes")
			if err != nil {
				return err
			}
			if o.json {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"meta_leader": v.MetaLeader, "nodes": v.Members})
			}
			return printNodes(cmd.OutOrStdout(), v)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func newClusterRemoveNodeCmd() *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "remove-node NODE",
		Short: "Take a node out of the cluster for good; its replicas are re-created elsewhere",
		Long: `Remove a node from the cluster: it leaves the meta group and its bucket
replicas are re-created on other nodes at once (where there are nodes to
hold them), instead of after --replace-after. If it comes back it is
refused; wipe its data directory to add it again as a new node. Ask any
other node.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Removed string `json:"removed"`
				Name    string `json:"name"`
			}
			raw, err := o.call(cmd.Context(), "remove-node "+args[0], "POST", "/v1/cluster/nodes/"+url.PathEscape(args[0])+"/remove", nil, &out)
			if err != nil {
				return err
			}
			if o.json {
				return printRaw(cmd.OutOrStdout(), raw)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed node %s (%s); its replicas are re-created on other nodes\n", out.Name, out.Removed)
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}

func newClusterStepDownCmd() *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "step-down",
		Short: "Make the meta leader hand its leadership to another node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Previous   string `json:"previous_leader"`
				MetaLeader string `json:"meta_leader"`
			}
			raw, err := o.call(cmd.Context(), "step-down", "POST", "/v1/cluster/step-down", nil, &out)
			if err != nil {
				return err
			}
			if o.json {
				return printRaw(cmd.OutOrStdout(), raw)
			}
			v, _, err := o.view(cmd.Context(), "step-down")
			if err != nil {
				v = &clusterView{} // names are a nicety
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "meta leadership moved from %s to %s\n", v.name(out.Previous), v.name(out.MetaLeader))
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}

func newClusterMoveReplicaCmd() *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "move-replica BUCKET FROM TO",
		Short: "Move a bucket's replica from one node to another",
		Long: `Move a bucket's replica from node FROM to node TO. The new replica is
added, caught up and promoted before the old one is removed, so the bucket
stays available; the command returns once the move is recorded, and
"cairn cluster status" shows when it is done.`,
		Example: `  cairn cluster move-replica orders node1 node3`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := args[0]
			body := map[string]string{"from": args[1], "to": args[2]}
			raw, err := o.call(cmd.Context(), "move-replica "+bucket, "POST", "/v1/buckets/"+url.PathEscape(bucket)+"/move-replica", body, nil)
			if err != nil {
				return err
			}
			if o.json {
				return printRaw(cmd.OutOrStdout(), raw)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "moving the replica of bucket %s from %s to %s; \"cairn cluster status\" shows when it is done\n", bucket, args[1], args[2])
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}

func newClusterTransferLeaderCmd() *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "transfer-leader BUCKET [TO]",
		Short: "Move a bucket's leadership to node TO (or to any other replica)",
		Long: `Move the raft leadership of a bucket to node TO, which must hold a
replica, and make TO its preferred leader so the cluster keeps it there.
Without TO, leadership moves to any other caught-up replica.`,
		Example: `  cairn cluster transfer-leader orders node2
  cairn cluster transfer-leader orders`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := args[0]
			var body any
			if len(args) == 2 {
				body = map[string]string{"to": args[1]}
			}
			var out struct {
				Leader string `json:"leader"`
			}
			raw, err := o.call(cmd.Context(), "transfer-leader "+bucket, "POST", "/v1/buckets/"+url.PathEscape(bucket)+"/transfer-leader", body, &out)
			if err != nil {
				return err
			}
			if o.json {
				return printRaw(cmd.OutOrStdout(), raw)
			}
			v, _, err := o.view(cmd.Context(), "transfer-leader")
			if err != nil {
				v = &clusterView{}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "bucket %s is led by %s\n", bucket, v.name(out.Leader))
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}
