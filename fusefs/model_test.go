package fusefs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestMountMatchesADisk runs the same random sequence of file and
// directory operations on a mount and on a directory of the local disk,
// which serves as the reference model: after every operation both must
// return the same error (by errno) and the same data, and their trees
// must hold the same names, types and contents. Names come from a small
// set so that operations collide (replace, rename onto, remove what is
// not empty, write under a file).
func TestMountMatchesADisk(t *testing.T) {
	_, mnt, _ := setup(t)
	compareSeeds(t, mnt, fsSeeds(t, 1, 2, 3))
}

// The same comparison through a three-node cluster, the bucket
// replicated on all three: every write the mount makes is committed by
// a quorum and comes back through the watch from a replicated group.
func TestClusterMountMatchesADisk(t *testing.T) {
	needFUSE(t)
	urls := startCairnCluster(t, 3)
	newBucket(t, urls[0], "files", jetstream.KeyValueConfig{History: 5, Replicas: 3})
	_, mnt := mountAt(t, urls[1], "files", Options{})
	compareSeeds(t, mnt, fsSeeds(t, 4))
}

// compareSeeds runs compareWithDisk for each seed in a subtest, each in
// a directory of its own under mnt.
func compareSeeds(t *testing.T, mnt string, seeds []int64) {
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			root := filepath.Join(mnt, fmt.Sprint(seed))
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			compareWithDisk(t, root, seed)
		})
	}
}

// fsSeeds are the seeds to run: the given ones, fixed so that CI
// repeats itself, or CAIRN_FS_SEED=N, or CAIRN_FS_SEED=random for a
// new one (each run logs its seed).
func fsSeeds(t *testing.T, seeds ...int64) []int64 {
	switch s := os.Getenv("CAIRN_FS_SEED"); s {
	case "":
		return seeds
	case "random":
		return []int64{time.Now().UnixNano()}
	default:
		var seed int64
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("CAIRN_FS_SEED=%q: %v", s, err)
		}
		return []int64{seed}
	}
}

// compareWithDisk runs the operations of seed under mnt and under a new
// directory of the local disk, comparing as it goes.
func compareWithDisk(t *testing.T, mnt string, seed int64) {
	disk := t.TempDir()
	t.Logf("seed %d (CAIRN_FS_SEED=%d repeats this run)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	names := []string{"a", "b", "c.txt"}
	// existing lists what the disk holds now, so that half the paths
	// name something that exists (or a new name in an existing
	// directory) and operations succeed often enough to build a tree.
	existing := func() (all, dirs []string) {
		_ = filepath.WalkDir(disk, func(path string, d fs.DirEntry, err error) error {
			if rel, _ := filepath.Rel(disk, path); err == nil && rel != "." {
				all = append(all, rel)
				if d.IsDir() {
					dirs = append(dirs, rel)
				}
			}
			return nil
		})
		return all, dirs
	}
	randPath := func() string {
		all, dirs := existing()
		switch r := rng.Intn(4); {
		case r == 0 && len(all) > 0:
			return all[rng.Intn(len(all))]
		case r == 1 && len(dirs) > 0:
			return filepath.Join(dirs[rng.Intn(len(dirs))], names[rng.Intn(len(names))])
		}
		depth := 1 + rng.Intn(2)
		if rng.Intn(4) == 0 {
			depth = 3
		}
		parts := make([]string, depth)
		for i := range parts {
			parts[i] = names[rng.Intn(len(names))]
		}
		return filepath.Join(parts...)
	}
	randData := func() []byte {
		b := make([]byte, rng.Intn(3000))
		for i := range b {
			b[i] = byte('a' + rng.Intn(26))
		}
		return b
	}

	const steps = 1500
	var log []string
	succeeded := 0
	for step := range steps {
		p, q := randPath(), randPath()
		data := randData()
		var op string
		var do func(root string) ([]byte, error)
		switch k := rng.Intn(15); k {
		case 0, 1:
			op = fmt.Sprintf("write %s (%d bytes)", p, len(data))
			do = func(root string) ([]byte, error) { return nil, os.WriteFile(filepath.Join(root, p), data, 0o644) }
		case 2:
			op = fmt.Sprintf("append %s (%d bytes)", p, len(data))
			do = func(root string) ([]byte, error) {
				f, err := os.OpenFile(filepath.Join(root, p), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return nil, err
				}
				_, err = f.Write(data)
				return nil, errors.Join(err, f.Close())
			}
		case 3:
			op = "read " + p
			do = func(root string) ([]byte, error) { return os.ReadFile(filepath.Join(root, p)) }
		case 4, 10:
			op = "mkdir " + p
			do = func(root string) ([]byte, error) { return nil, os.Mkdir(filepath.Join(root, p), 0o755) }
		case 5:
			op = "unlink " + p
			do = func(root string) ([]byte, error) { return nil, syscall.Unlink(filepath.Join(root, p)) }
		case 6:
			op = "rmdir " + p
			do = func(root string) ([]byte, error) { return nil, syscall.Rmdir(filepath.Join(root, p)) }
		case 7, 8:
			op = fmt.Sprintf("rename %s %s", p, q)
			do = func(root string) ([]byte, error) {
				return nil, os.Rename(filepath.Join(root, p), filepath.Join(root, q))
			}
		case 9:
			size := int64(rng.Intn(4000))
			op = fmt.Sprintf("truncate %s %d", p, size)
			do = func(root string) ([]byte, error) { return nil, os.Truncate(filepath.Join(root, p), size) }
		case 11:
			op = fmt.Sprintf("create-excl %s (%d bytes)", p, len(data))
			do = func(root string) ([]byte, error) {
				f, err := os.OpenFile(filepath.Join(root, p), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					return nil, err
				}
				_, err = f.Write(data)
				return nil, errors.Join(err, f.Close())
			}
		case 12:
			off := int64(rng.Intn(4000))
			op = fmt.Sprintf("pwrite %s at %d (%d bytes)", p, off, len(data))
			do = func(root string) ([]byte, error) {
				f, err := os.OpenFile(filepath.Join(root, p), os.O_RDWR, 0)
				if err != nil {
					return nil, err
				}
				_, err = f.WriteAt(data, off)
				return nil, errors.Join(err, f.Close())
			}
		case 13:
			op = "readdir " + p
			do = func(root string) ([]byte, error) {
				ents, err := os.ReadDir(filepath.Join(root, p))
				var b []byte
				for _, e := range ents {
					b = fmt.Appendf(b, "%s %v\n", e.Name(), e.IsDir())
				}
				return b, err
			}
		case 14:
			op = "stat " + p
			do = func(root string) ([]byte, error) {
				fi, err := os.Stat(filepath.Join(root, p))
				if err != nil {
					return nil, err
				}
				size := fi.Size()
				if fi.IsDir() {
					size = 0 // a directory's size is the filesystem's own
				}
				return fmt.Appendf(nil, "%v %d", fi.IsDir(), size), nil
			}
		}
		log = append(log, op)
		wantData, wantErr := do(disk)
		gotData, gotErr := do(mnt)
		if errnoOf(gotErr) != errnoOf(wantErr) || !bytes.Equal(gotData, wantData) {
			t.Fatalf("step %d, %s: the mount gave (%d bytes, %v), the disk (%d bytes, %v)\nsteps so far:\n  %s",
				step, op, len(gotData), gotErr, len(wantData), wantErr, strings.Join(log, "\n  "))
		}
		if wantErr == nil {
			succeeded++
		}
		if step%20 == 19 || step == steps-1 {
			if got, want := treeOf(t, mnt), treeOf(t, disk); got != want {
				t.Fatalf("after step %d (%s) the trees differ:\nmount:\n%s\ndisk:\n%s\nsteps so far:\n  %s",
					step, op, got, want, strings.Join(log, "\n  "))
			}
		}
	}
	final := treeOf(t, disk)
	t.Logf("%d of %d operations succeeded; %d names at the end", succeeded, steps, strings.Count(final, "\n")+1)
	if succeeded < steps/8 {
		t.Fatalf("only %d of %d operations succeeded: the sequence tests little", succeeded, steps)
	}
}

// errnoOf is the errno an operation failed with, 0 for success, -1 for
// an error that carries none.
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return ^syscall.Errno(0)
}

// treeOf lists every name under root with its type and, for files, a
// digest of the contents, one per line in order.
func treeOf(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			lines = append(lines, rel+"/")
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %d %x", rel, len(b), crc(b)))
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", root, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func crc(b []byte) uint32 {
	var h uint32 = 2166136261
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// An rmdir leaves its parent in place even when the parent exists only
// because of it: here a tree of empty directories moved by rename, whose
// inner directories the mount had not marked as its own. The mount used
// to drop them with the last one (found by TestMountMatchesADisk; this
// is its shortest failing sequence).
func TestRmdirKeepsItsParent(t *testing.T) {
	_, mnt, _ := setup(t)
	j := func(p string) string { return filepath.Join(mnt, p) }
	for _, step := range []func() error{
		func() error { return os.MkdirAll(j("b/b/a/b"), 0o755) },
		func() error { return os.MkdirAll(j("c/a/b"), 0o755) },
		func() error { return os.Rename(j("c"), j("b/b/a/b/a")) },
		func() error { return syscall.Rmdir(j("b/b/a/b/a/a/b")) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := treeOf(t, mnt), "b/\nb/b/\nb/b/a/\nb/b/a/b/\nb/b/a/b/a/\nb/b/a/b/a/a/"; got != want {
		t.Fatalf("after rmdir the mount holds\n%s\nwant\n%s", got, want)
	}
}
