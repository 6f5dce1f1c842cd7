package node

import (
	"context"
	"time"

	"github.com/cairnkv/cairn/storage/bucket"
)

// expiryLoop lets the leader of each bucket with a max age or per-key TTLs
// propose expiry when revisions are due. The decision travels through
// raft with the leader's clock in the command, so every replica removes
// exactly the same revisions and leaves the same markers.
func (n *Node) expiryLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.mu.RLock()
		due := make([]*Bucket, 0)
		now := time.Now().UnixNano()
		for _, b := range n.buckets {
			// Cheap checks first: this runs for every bucket several
			// times a second.
			if !b.group.IsLeader() || b.restoring.Load() {
				continue
			}
			if cfg := b.state.Config(); cfg.MaxAge <= 0 && !cfg.AllowMsgTTL {
				continue
			}
			if next, err := b.state.NextExpiry(); err == nil && next != 0 && next <= now {
				due = append(due, b)
			}
		}
		n.mu.RUnlock()
		for _, b := range due {
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
			cmd := bucket.Command{Kind: bucket.KindExpire, Time: time.Now().UnixNano()}
			if _, err := b.propose(ctx, &cmd); err != nil && n.ctx.Err() == nil {
				n.lg.Warn("proposing expiry", "bucket", b.name, "err", err)
			}
			cancel()
		}
	}
}
