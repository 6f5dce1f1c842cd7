package compare

import (
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/bench/target"
)

// targetNote says how a target stores and reads, which the figures
// depend on.
func targetNote(cfg *Config, kind string) string {
	switch kind {
	case target.Cairn, CairnB:
		note := "fsyncs before acknowledging a put; gets are linearizable (a ReadIndex round)"
		if slices.Contains(cfg.Targets, CairnB) {
			bin := cfg.CairnBin
			if kind == CairnB {
				bin = cfg.CairnBBin
			}
			note += "; binary " + bin
		}
		return note
	case target.NATSServer:
		sync := "syncs to disk every 2 minutes (default sync_interval), so a put is acknowledged before it is on disk"
		if cfg.NATSSyncAlways {
			sync = "sync_interval: always (fsync before acknowledging)"
		}
		return sync + "; KV gets use direct get, which any replica may answer (not linearizable)"
	case target.EtcdServer:
		return "fsyncs before acknowledging; gets are linearizable (clientv3 default); no buckets"
	}
	return ""
}

// notes are the caveats of the whole comparison.
func notes(cfg *Config, systems []*system) []string {
	out := []string{
		"All clusters run on this machine at once, on loopback; each workload runs against every target in turn, so its figures come from neighbouring minutes. Read ratios, not absolute figures.",
		"cairn and nats-server are driven by the same nats.go jetstream KeyValue code; etcd by clientv3. Every client has its own connection.",
	}
	if cfg.Rounds > 1 {
		out = append(out, fmt.Sprintf("%d rounds: the whole matrix ran %d times, the targets in reverse order every other round. Each target's figures are from its median round (by throughput); each ratio is the median of the ratios taken round by round, with their range.", cfg.Rounds, cfg.Rounds))
	}
	if cfg.Run.Rate > 0 {
		out = append(out, fmt.Sprintf("Open loop at %.0f ops/s in all: latency counts from each operation's intended start (corrected for coordinated omission).", cfg.Run.Rate))
	} else {
		out = append(out, "Closed loop: each client sends its next request when the last one returns.")
	}
	sizes := map[int][]string{}
	for _, s := range systems {
		sizes[s.info.Nodes] = append(sizes[s.info.Nodes], s.kind)
	}
	if len(sizes) > 1 {
		out = append(out, fmt.Sprintf("Cluster sizes differ (%v nodes); buckets are replicated to min(nodes, 3) unless --replicas is given, so this is not a like-for-like comparison.", sizes))
	}
	for _, s := range systems {
		if s.err != nil {
			out = append(out, fmt.Sprintf("%s could not be measured: %s", s.kind, firstLine(s.err.Error())))
		}
	}
	return out
}
