package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/cairnkv/cairn/bench/cluster"
)

// cairnPlacement asks cairn's HTTP API (GET /v1/cluster) how many nodes
// hold bucket. ok is false if no node answers with it.
func cairnPlacement(ctx context.Context, cl *cluster.Cluster, bucket string) (replicas int, ok bool) {
	var state struct {
		Groups []struct {
			Bucket   string   `json:"bucket"`
			Replicas []string `json:"replicas"`
		} `json:"groups"`
	}
	for _, n := range cl.Nodes {
		if err := getJSON(ctx, "http://"+n.HTTPAddr+"/v1/cluster", &state); err != nil {
			continue
		}
		for _, g := range state.Groups {
			if g.Bucket == bucket {
				return len(g.Replicas), true
			}
		}
	}
	return 0, false
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
