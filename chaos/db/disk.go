package db

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// DiskAvailable says why disks cannot be filled here (nil: they can).
func DiskAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("the disk nemesis needs root, to mount a small tmpfs for each node's data")
	}
	return nil
}

func mountTmpfs(dir string, size int64) error {
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		return fmt.Errorf("mounting a tmpfs of %d bytes on %s: %w", size, dir, err)
	}
	return nil
}

func unmount(dir string) error {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting %s: %w", dir, err)
	}
	return nil
}

// ballast is the file that fills a node's disk, beside (not in) its data
// directory.
func (l *Local) ballast(i int) string { return filepath.Join(l.slotDir(i), "ballast") }

// FillDisk fills slot i's tmpfs until no byte is left.
func (l *Local) FillDisk(i int) error {
	if l.o.DiskSize == 0 {
		return errors.New("the nodes have no disks of their own (the disk nemesis mounts them)")
	}
	l.mu.Lock()
	l.full[i] = true
	l.mu.Unlock()
	f, err := os.OpenFile(l.ballast(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Statfs(l.slotDir(i), &st); err != nil {
		return err
	}
	if free := int64(st.Bavail) * st.Bsize; free > 0 {
		_ = unix.Fallocate(int(f.Fd()), 0, 0, free) // most of it at once
	}
	buf := make([]byte, 64<<10)
	for range 1 << 16 { // the rest, to the last byte; bounded
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, unix.ENOSPC) {
				return nil
			}
			return err
		}
		if len(buf) > 1 && l.freeBytes(i) < int64(len(buf)) {
			buf = buf[:max(1, len(buf)/8)]
		}
	}
	return nil
}

func (l *Local) freeBytes(i int) int64 {
	var st unix.Statfs_t
	if unix.Statfs(l.slotDir(i), &st) != nil {
		return 0
	}
	return int64(st.Bavail) * st.Bsize
}

// FreeDisk removes the ballast from slot i's disk.
func (l *Local) FreeDisk(i int) error {
	l.mu.Lock()
	delete(l.full, i)
	l.mu.Unlock()
	if err := os.Remove(l.ballast(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ProbeDisk mounts and unmounts a small tmpfs under dir, to learn whether
// this machine allows it (root is not always enough in a container).
func ProbeDisk(dir string) error {
	if err := DiskAvailable(); err != nil {
		return err
	}
	p, err := os.MkdirTemp(dir, "disk-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(p)
	if err := mountTmpfs(p, 1<<20); err != nil {
		return fmt.Errorf("the disk nemesis cannot mount a tmpfs here: %w", err)
	}
	return unmount(p)
}
