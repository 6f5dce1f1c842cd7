package fusefs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sourceTree writes a small source tree with the names and shapes real
// trees have: nested directories, dotfiles, names with dots, spaces and
// Unicode, empty files and directories, and a larger file. It adds this
// package's own Go files as real source.
func sourceTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	files := map[string]string{
		"README.md":                 "# project\n",
		".gitignore":                "*.o\n",
		"Makefile":                  "all:\n\tgo build ./...\n",
		"cmd/tool/main.go":          "package main\n\nfunc main() {}\n",
		"internal/a/b/c/deep.txt":   "deep\n",
		"docs/notes v2.txt":         "spaces in the name\n",
		"docs/café.md":              "unicode\n",
		"docs/.hidden/config.yaml":  "key: value\n",
		"data/empty":                "",
		"data/big.bin":              strings.Repeat("0123456789abcdef", 16<<10), // 256 KiB
		"data/weird=name%20.tar.gz": "equals and percent\n",
	}
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "empty/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "fusefs"), 0o755); err != nil {
		t.Fatal(err)
	}
	own, _ := filepath.Glob("*.go")
	for _, f := range own {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "fusefs", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestCopyTreeInAndOut: cp -r in, cp -r out, diff -r; then find and grep.
func TestCopyTreeInAndOut(t *testing.T) {
	_, dir, _ := setup(t)
	src := sourceTree(t)
	run(t, "cp", "-r", src, filepath.Join(dir, "tree"))
	run(t, "diff", "-r", src, filepath.Join(dir, "tree"))
	out := filepath.Join(t.TempDir(), "out")
	run(t, "cp", "-r", filepath.Join(dir, "tree"), out)
	run(t, "diff", "-r", src, out)

	// cp -a (times, modes, owners, xattrs) in and out: what cannot be kept
	// is refused quietly, never an error.
	run(t, "cp", "-a", src, filepath.Join(dir, "tree-a"))
	run(t, "diff", "-r", src, filepath.Join(dir, "tree-a"))
	outA := filepath.Join(t.TempDir(), "out-a")
	run(t, "cp", "-a", filepath.Join(dir, "tree-a"), outA)
	run(t, "diff", "-r", src, outA)

	// find lists the same names in both.
	list := func(root string) string {
		o := run(t, "find", root, "-printf", "%P %y %s\n")
		lines := strings.Split(strings.TrimSpace(o), "\n")
		var keep []string
		for _, l := range lines {
			if !strings.HasPrefix(l, " ") { // the root itself
				keep = append(keep, l)
			}
		}
		return strings.Join(sortedCopy(keep), "\n")
	}
	if a, b := list(src), list(filepath.Join(dir, "tree")); a != b {
		t.Fatalf("find differs:\nsource:\n%s\nmount:\n%s", a, b)
	}
	got := run(t, "grep", "-rl", "package fusefs", filepath.Join(dir, "tree"))
	if n := strings.Count(got, "\n"); n < 5 {
		t.Fatalf("grep -r found %d files:\n%s", n, got)
	}
	run(t, "grep", "-rq", "unicode", filepath.Join(dir, "tree/docs"))
	// rm -r removes all of it.
	run(t, "rm", "-r", filepath.Join(dir, "tree"))
	if err := absent(filepath.Join(dir, "tree"))(); err != nil {
		t.Fatal(err)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestRsync: rsync writes temporary files and renames them into place,
// and sets times and modes (accepted and ignored).
func TestRsync(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync not installed")
	}
	_, dir, _ := setup(t)
	src := sourceTree(t)
	run(t, "rsync", "-a", src+"/", filepath.Join(dir, "copy")+"/")
	run(t, "diff", "-r", src, filepath.Join(dir, "copy"))
	// A change and a second run: only the changed file moves (the mount
	// remembers the times rsync set), and the result matches again. The
	// change's time is moved on explicitly: rsync compares whole seconds.
	readme := filepath.Join(src, "README.md")
	if err := os.WriteFile(readme, []byte("# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(10 * time.Second)
	if err := os.Chtimes(readme, later, later); err != nil {
		t.Fatal(err)
	}
	out := run(t, "rsync", "-a", "--delete", "--itemize-changes", src+"/", filepath.Join(dir, "copy")+"/")
	var sent []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, ">f") {
			sent = append(sent, l)
		}
	}
	if len(sent) != 1 || !strings.HasSuffix(sent[0], " README.md") {
		t.Fatalf("second rsync sent %q, want only README.md", sent)
	}
	run(t, "diff", "-r", src, filepath.Join(dir, "copy"))
	// And back out.
	back := filepath.Join(t.TempDir(), "back")
	run(t, "rsync", "-r", filepath.Join(dir, "copy")+"/", back+"/")
	run(t, "diff", "-r", src, back)
}

// TestGit: a repository inside the mount: init, add, commit, log, status,
// branch and checkout (lock files with O_EXCL, renames over, fsync).
func TestGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	_, dir, _ := setup(t)
	repo := filepath.Join(dir, "repo")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		return run(t, "git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com",
			"-c", "init.defaultBranch=main"}, args...)...)
	}
	git("init", "-q")
	for i := 0; i < 10; i++ {
		p := filepath.Join(repo, fmt.Sprintf("pkg/file%d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("package pkg\n\nconst N%d = %d\n", i, i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "-A")
	git("commit", "-q", "-m", "first")
	if err := os.WriteFile(filepath.Join(repo, "pkg/file3.go"), []byte("package pkg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-qam", "second")
	if got := git("log", "--format=%s"); got != "second\nfirst\n" {
		t.Fatalf("git log = %q", got)
	}
	if st := git("status", "--porcelain"); st != "" {
		t.Fatalf("git status not clean:\n%s", st)
	}
	git("checkout", "-q", "-b", "topic", "HEAD~1")
	if got, _ := readString(filepath.Join(repo, "pkg/file3.go")); !strings.Contains(got, "N3") {
		t.Fatalf("checkout did not restore file3.go: %q", got)
	}
	git("fsck", "--no-progress")
	// A clone out of the mount is the same repository.
	clone := filepath.Join(t.TempDir(), "clone")
	run(t, "git", "clone", "-q", repo, clone)
	run(t, "git", "-C", clone, "log", "--oneline")
}

// TestEditor: vim saves with a swap file, a backup by rename and a
// rewrite, in the mount.
func TestEditor(t *testing.T) {
	vim, err := exec.LookPath("vim")
	if err != nil {
		t.Skip("vim not installed")
	}
	_, dir, _ := setup(t)
	p := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(p, []byte("line one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, backup := range []string{"backupcopy=no", "backupcopy=yes"} {
		run(t, vim, "-u", "NONE", "-N", "-n", "-es", "-c", "set backup writebackup "+backup,
			"-c", "normal Go"+backup, "-c", "wq", p)
		got, err := readString(p)
		if err != nil || !strings.HasSuffix(got, backup+"\n") {
			t.Fatalf("after vim (%s): %q, %v", backup, got, err)
		}
	}
	// With swap files on (the default), too.
	run(t, vim, "-u", "NONE", "-N", "-es", "-c", "normal Goswap", "-c", "wq", p)
	if got, _ := readString(p); !strings.HasSuffix(got, "swap\n") {
		t.Fatalf("after vim with a swap file: %q", got)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".swp") {
			t.Fatalf("swap file left behind: %s", e.Name())
		}
	}
}
