package transport

import (
	"sync"
	"time"
)

// reporter calls Handler.ReportUnreachable and (for snapshots that never
// started) ReportSnapshot from its own goroutine. Send must not call into
// the Handler: it runs inside a group's Ready handling. Reports are a set,
// so a peer that stays down costs one report per group per round however
// many messages are dropped, and rounds are spaced by reportSpacing.
type reporter struct {
	t      *Transport
	once   sync.Once
	notify chan struct{}

	mu      sync.Mutex
	unreach map[reportKey]struct{}
	snaps   map[reportKey]struct{} // snapshots that failed before streaming
}

type reportKey struct{ group, to uint64 }

// reportSpacing is the least time between two rounds of reports.
const reportSpacing = 50 * time.Millisecond

func (r *reporter) init(t *Transport) {
	r.t = t
	r.notify = make(chan struct{}, 1)
	r.unreach = map[reportKey]struct{}{}
	r.snaps = map[reportKey]struct{}{}
}

func (r *reporter) unreachable(group, to uint64) {
	r.add(false, reportKey{group, to})
}

func (r *reporter) snapshotFailed(group, to uint64) {
	r.add(true, reportKey{group, to})
}

func (r *reporter) add(snap bool, k reportKey) {
	r.mu.Lock()
	if snap {
		r.snaps[k] = struct{}{}
	} else {
		r.unreach[k] = struct{}{}
	}
	r.mu.Unlock()
	// Started on first use so that a transport that never reports runs
	// no goroutine for it.
	r.once.Do(func() { r.t.spawn(r.run) })
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *reporter) run() {
	t := r.t
	for {
		select {
		case <-r.notify:
		case <-t.ctx.Done():
			return
		}
		r.mu.Lock()
		unreach, snaps := r.unreach, r.snaps
		r.unreach, r.snaps = map[reportKey]struct{}{}, map[reportKey]struct{}{}
		r.mu.Unlock()
		for k := range unreach {
			if t.closing() {
				return
			}
			t.h.ReportUnreachable(k.group, k.to)
		}
		for k := range snaps {
			if t.closing() {
				return
			}
			t.h.ReportSnapshot(k.group, k.to, true)
		}
		if !t.sleep(reportSpacing) {
			return
		}
	}
}
