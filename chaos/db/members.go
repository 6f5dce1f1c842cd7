package db

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// Remove takes slot i's node out of the cluster for good (asking another
// node), stops it and wipes its data: the slot is empty until Join.
func (l *Local) Remove(ctx context.Context, i int) error {
	if l.o.Kind != Cairn {
		return errors.New("membership changes are implemented for cairn only")
	}
	name := l.Name(i)
	var last error = errors.New("no other node is running")
	removed := false
	for j := range l.Size() {
		if j == i || !l.Running(j) || l.Paused(j) {
			continue
		}
		if last = l.doJSON(ctx, http.MethodPost, l.HTTPURL(j)+"/v1/cluster/nodes/"+name+"/remove", nil); last == nil {
			removed = true
			break
		}
	}
	if !removed {
		return fmt.Errorf("removing %s: %w", name, last)
	}
	if err := l.Stop(i); err != nil {
		return err
	}
	dir := l.c.Nodes[i].DataDir
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}

// Join starts slot i as a new node (a new name, empty data) that joins
// the cluster, and waits until it is ready.
func (l *Local) Join(ctx context.Context, i int) error {
	l.mu.Lock()
	l.gen[i]++
	l.c.Nodes[i].Name = l.name(i)
	l.mu.Unlock()
	return l.Restart(ctx, i)
}
