package fusefs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrNotMounted means a directory is not a cairn mount.
var ErrNotMounted = errors.New("not a cairn mount")

// IsMounted reports whether dir is the mount point of a cairn mount.
func IsMounted(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("reading the mount table: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		point, fstype, ok := parseMountinfo(sc.Text())
		if ok && point == abs && fstype == FSType {
			return true, nil
		}
	}
	return false, sc.Err()
}

// parseMountinfo returns the mount point and filesystem type of one line
// of /proc/self/mountinfo.
func parseMountinfo(line string) (point, fstype string, ok bool) {
	fields := strings.Fields(line)
	sep := -1
	for i, f := range fields {
		if f == "-" {
			sep = i
			break
		}
	}
	if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
		return "", "", false
	}
	return unescapeMountinfo(fields[4]), fields[sep+1], true
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) the kernel
// writes in mount points.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Unmount unmounts the cairn mount at dir, from any process (cairn
// unmount). With lazy it detaches the mount even while it is in use.
func Unmount(dir string, lazy bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	mounted, err := IsMounted(abs)
	if err != nil {
		return err
	}
	if !mounted {
		return fmt.Errorf("%s: %w", dir, ErrNotMounted)
	}
	if lazy {
		return LazyUnmount(abs)
	}
	err = syscall.Unmount(abs, 0)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%s is in use (a shell's working directory or an open file); close it, or unmount lazily: %w", dir, err)
	}
	return fusermount(abs, "-u")
}

// fusermount runs fusermount3 (or fusermount) with flag on dir, for when
// the process may not unmount by itself (not root).
func fusermount(dir, flag string) error {
	bin, err := exec.LookPath("fusermount3")
	if err != nil {
		if bin, err = exec.LookPath("fusermount"); err != nil {
			return fmt.Errorf("unmounting %s: no fusermount3 on PATH (install fuse3)", dir)
		}
	}
	out, err := exec.Command(bin, flag, dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unmounting %s: %s: %w", dir, strings.TrimSpace(string(out)), err)
	}
	return nil
}
