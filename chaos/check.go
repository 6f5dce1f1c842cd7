package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cairnkv/cairn/chaos/checker"
	"github.com/cairnkv/cairn/chaos/history"
	"github.com/cairnkv/cairn/chaos/workload"
)

// check runs every checker over the run's history and fills the report.
func (r *run) check(ctx context.Context, rep *Report, tomb map[string]uint64, scans []history.Scan) {
	cfg := &r.cfg
	ops := r.log.Ops()
	rep.countOps(ops)
	finals := map[string]*checker.Final{}
	for _, b := range r.buckets {
		f, as := checker.Reconcile(b, scans)
		rep.add(as...)
		if _, ok := tomb[b]; !ok {
			f.Complete = false // no final write: the scans prove nothing
		}
		finals[b] = f
		rep.Scans = append(rep.Scans, scanSummary(b, scans, tomb[b])...)
	}
	if f := finals[RegisterBucket]; f != nil {
		resolved, as := checker.Writes(f, ops)
		rep.add(as...)
		lr := checker.Linearizable(resolved, cfg.CheckTimeout, r.path("register.html"), r.windows())
		rep.Linearizability = LinearSummary{Result: string(lr.Result), Ops: lr.Ops, Visualization: lr.Visualization}
		rep.add(lr.Anomalies...)
	}
	if f := finals[SetBucket]; f != nil {
		_, as := checker.Writes(f, ops)
		rep.add(as...)
		sr, as := checker.Set(SetBucket, ops, scans, map[string]bool{workload.TombstoneKey: true})
		rep.Set = &sr
		rep.add(as...)
	}
	r.checkWatchers(ctx, rep, finals[RegisterBucket], tomb[RegisterBucket])
	if r.local != nil {
		for _, e := range r.local.Exits() {
			if e.DiskFull {
				rep.DiskFullExits = append(rep.DiskFullExits, e)
				continue
			}
			rep.add(checker.Anomaly{Kind: checker.KindCrash, Detail: fmt.Sprintf("%s exited on its own at %s (%s): %s", e.Node, e.Time.Format(time.TimeOnly), e.Err, e.Reason)})
		}
	}
	if r.local != nil {
		for _, p := range r.local.DataRaces() {
			rep.add(checker.Anomaly{Kind: checker.KindDataRace, Detail: "the race detector reported a data race in " + p})
		}
	}
	if r.nem != nil {
		rep.setFaults(r.nem.Events())
		for _, ev := range r.nem.Events() {
			if !ev.Recovered {
				rep.add(checker.Anomaly{Kind: checker.KindUnavailable, Detail: fmt.Sprintf("after %s (%s): %s", ev.Fault, ev.Desc, ev.Err)})
			}
		}
	}
	rep.finish(time.Since(r.log.Start()))
	if !rep.Valid && r.cfg.Dir != "" {
		if err := writeHistory(r.path("history.json"), ops, scans); err != nil {
			cfg.Logger.Warn("saving the history", "err", err)
		} else {
			rep.History = r.path("history.json")
		}
	}
}

// writeHistory saves what the clients did and what the scans read, for
// a post-mortem of a failed run.
func writeHistory(path string, ops []history.Op, scans []history.Scan) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	err = enc.Encode(struct {
		Ops   []history.Op   `json:"ops"`
		Scans []history.Scan `json:"scans"`
	}{ops, scans})
	return errors.Join(err, f.Close())
}

// checkWatchers waits until every watcher has reached the last revision
// of the register bucket its filter matches, stops them and checks
// their streams.
func (r *run) checkWatchers(ctx context.Context, rep *Report, f *checker.Final, until uint64) {
	defer func() {
		if r.stopWatchers != nil {
			r.stopWatchers()
			r.watchWG.Wait()
		}
	}()
	if len(r.watchers) == 0 || f == nil {
		return
	}
	deadline := time.Now().Add(finalTimeout)
	for _, w := range r.watchers {
		need := f.LastMatching(w.Filter, until)
		for w.Last() < need && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if r.stopWatchers != nil {
		r.stopWatchers()
		r.watchWG.Wait()
		r.stopWatchers = nil
	}
	ws := WatchSummary{Watchers: len(r.watchers)}
	for _, w := range r.watchers {
		s := w.Stream()
		ws.Events += len(s.Events)
		ws.Resumes += w.Resumes()
		rep.add(checker.Watch(s, f, until)...)
	}
	rep.Watch = &ws
}

// windows are the faults, for the porcupine visualization.
func (r *run) windows() []checker.Window {
	if r.nem == nil {
		return nil
	}
	var out []checker.Window
	for _, ev := range r.nem.Events() {
		out = append(out, checker.Window{Name: ev.Fault, Start: ev.Start, End: ev.End, Details: ev.Desc})
	}
	return out
}

func scanSummary(bucket string, scans []history.Scan, until uint64) []ScanSummary {
	var out []ScanSummary
	for _, s := range scans {
		if s.Bucket == bucket {
			out = append(out, ScanSummary{Bucket: bucket, Node: s.Node, Entries: len(s.Entries), Until: until, Err: s.Err,
				Retries: s.Retries, FirstErr: s.FirstErr})
		}
	}
	return out
}
