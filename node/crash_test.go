package node

// Crash tests: acknowledged writes survive a process kill (a real child
// process, SIGKILLed at random moments) and the loss of every unsynced
// byte (Pebble's crashable in-memory filesystem).
//
// Both tests write unique values from several concurrent writers. Writers
// u* write each value under its own key (so a key with two revisions was
// applied twice); writers h* write unique values over a few hot keys (so
// history roll-off runs while crashing). No writer retries: a failed or
// interrupted write is simply left unknown. The checker then requires:
//
//   - every acknowledged write is stored at its revision with its value,
//     unless (hot keys only) history rolled it off, which needs a full
//     history of newer revisions of the key;
//   - no revision was acknowledged twice, and each writer's acknowledged
//     revisions increase; writes acknowledged by a later incarnation of
//     the node have higher revisions than any acknowledged earlier;
//   - every stored revision is a write that was attempted, and no value is
//     stored twice (nothing applied twice);
//   - the bucket's counters (messages, keys, first revision) match what
//     is stored, and the key listing and next-message iteration agree;
//   - after recovery, new writes get revisions above every old one.
//
// Set CAIRN_CRASH_SEED to replay a run's random choices (kill moments,
// clone randomness); the seed is logged.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage/bucket"
	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	crashDirEnv   = "CAIRN_CRASH_CHILD_DIR"
	crashRoundEnv = "CAIRN_CRASH_CHILD_ROUND"
	crashSeedEnv  = "CAIRN_CRASH_SEED"
	crashBucketNm = "crash"
	crashHistory  = 4
	crashUniqueW  = 4 // writers of unique keys
	crashHotW     = 2 // writers over hot keys
	crashHotKeys  = 3
	crashMaxAcks  = 3000 // most acknowledgements before a kill
	// crashCompactAcks is enough writes for the raft log to be truncated
	// (replication.DefaultConfig: CompactEvery 10000 + CompactKeep 1000),
	// so that later crashes and recoveries work on a compacted log.
	crashCompactAcks = 11500
	crashRoundWait   = 20 * time.Second
)

func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", crashSeedEnv, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	return seed
}

// crashOp is the key and value of writer w's seq-th write in round.
func crashOp(round, w, seq int) (key, value string) {
	value = fmt.Sprintf("r%d.w%d.s%d", round, w, seq)
	if w < crashUniqueW {
		return "u." + value, value
	}
	return fmt.Sprintf("h.k%d", (seq+w)%crashHotKeys), value
}

func crashParseValue(value string) (round, w, seq int, ok bool) {
	_, err := fmt.Sscanf(value, "r%d.w%d.s%d", &round, &w, &seq)
	return round, w, seq, err == nil
}

func crashConfig(dir string, lg *slog.Logger) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.Logger = lg
	return cfg
}

func crashBucket(ctx context.Context, n *Node) (*Bucket, error) {
	if _, err := n.CreateBucket(ctx, BucketConfig{Name: crashBucketNm, History: crashHistory}); err != nil {
		return nil, err
	}
	return n.Bucket(crashBucketNm)
}

// crashWriters runs the writers until ctx ends. try is called before each
// Put, ack after it returned successfully, fail after it failed.
func crashWriters(ctx context.Context, b *Bucket, round int, try func(key, value string), ack func(key, value string, rev uint64), fail func(key, value string, err error)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range crashUniqueW + crashHotW {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				key, value := crashOp(round, w, seq)
				try(key, value)
				rev, err := b.Put(ctx, key, []byte(value))
				if err != nil {
					fail(key, value, err) // no retry: the outcome stays unknown
					continue
				}
				ack(key, value, rev)
			}
		}()
	}
	return &wg
}

type crashAck struct {
	key, value string
	rev        uint64
}

// crashRecord is what the writers did, as the test saw it.
type crashRecord struct {
	tried map[string]string // value → key
	acks  []crashAck
}

// verifyCrash checks the bucket against what was tried and acknowledged
// (see the file comment) and returns the bucket's last revision.
func verifyCrash(t *testing.T, ctx context.Context, b *Bucket, rec *crashRecord) uint64 {
	t.Helper()
	info, err := b.Info(ctx)
	if err != nil {
		t.Fatalf("bucket info: %v", err)
	}
	st := info.State
	// Every stored revision, straight from the revision log (one scan;
	// the public read paths are sampled below).
	byRev := map[uint64]crashAck{}
	revsOf := map[string][]uint64{}
	valueAt := map[string]uint64{}
	var stored []uint64
	view := b.state.Snapshot()
	err = view.Scan(1, func(m *bucket.Msg) bool {
		v := string(m.Data)
		if m.Op.IsRemoval() {
			t.Errorf("revision %d is a %v", m.Seq, m.Op)
		}
		if len(stored) > 0 && m.Seq <= stored[len(stored)-1] {
			t.Errorf("revision log out of order: %d after %d", m.Seq, stored[len(stored)-1])
		}
		if k, ok := rec.tried[v]; !ok || k != m.Key {
			t.Errorf("revision %d holds %s=%q, which was never written", m.Seq, m.Key, v)
		}
		if prev, dup := valueAt[v]; dup {
			t.Errorf("value %q stored twice, at revisions %d and %d: applied twice", v, prev, m.Seq)
		}
		valueAt[v] = m.Seq
		byRev[m.Seq] = crashAck{m.Key, v, m.Seq}
		revsOf[m.Key] = append(revsOf[m.Key], m.Seq)
		stored = append(stored, m.Seq)
		return true
	})
	view.Close()
	if err != nil {
		t.Fatalf("scanning the revision log: %v", err)
	}
	if len(stored) > 0 && stored[len(stored)-1] > st.Last {
		t.Errorf("revision %d stored beyond the last assigned %d", stored[len(stored)-1], st.Last)
	}
	var first uint64
	if len(stored) > 0 {
		first = stored[0]
	}
	if uint64(len(byRev)) != st.Msgs {
		t.Errorf("bucket counts %d messages, %d revisions are stored", st.Msgs, len(byRev))
	}
	if uint64(len(revsOf)) != st.Keys {
		t.Errorf("bucket counts %d keys, %d keys are stored", st.Keys, len(revsOf))
	}
	if first != 0 && st.First != first {
		t.Errorf("bucket's first revision %d, first stored %d", st.First, first)
	}
	for k, revs := range revsOf {
		limit := crashHistory
		if strings.HasPrefix(k, "u.") {
			limit = 1 // written once
		}
		if len(revs) > limit {
			t.Errorf("key %s has %d revisions %v, at most %d possible", k, len(revs), revs, limit)
		}
	}
	// Every acknowledged write is there.
	ackedAt := map[uint64]crashAck{}
	for _, a := range rec.acks {
		if o, dup := ackedAt[a.rev]; dup {
			t.Errorf("revision %d acknowledged twice: %s=%s and %s=%s", a.rev, o.key, o.value, a.key, a.value)
		}
		ackedAt[a.rev] = a
		got, ok := byRev[a.rev]
		if ok && got == a {
			continue
		}
		revs := revsOf[a.key]
		if !strings.HasPrefix(a.key, "u.") && len(revs) == crashHistory && a.rev < revs[0] {
			continue // rolled off by newer revisions of the hot key
		}
		if ok {
			t.Errorf("LOST acknowledged write %s=%s at revision %d: the revision holds %s=%s", a.key, a.value, a.rev, got.key, got.value)
		} else {
			t.Errorf("LOST acknowledged write %s=%s at revision %d (key's revisions: %v; last %d)", a.key, a.value, a.rev, revs, st.Last)
		}
	}
	// Acknowledgement order: per writer and across incarnations.
	type writer struct{ round, w int }
	lastOf := map[writer]uint64{}
	maxBefore := map[int]uint64{} // round → highest acknowledged revision
	for _, a := range rec.acks {
		r, w, _, _ := crashParseValue(a.value)
		if a.rev <= lastOf[writer{r, w}] {
			t.Errorf("writer %d of round %d: revision %d acknowledged after %d", w, r, a.rev, lastOf[writer{r, w}])
		}
		lastOf[writer{r, w}] = a.rev
		maxBefore[r] = max(maxBefore[r], a.rev)
	}
	for _, a := range rec.acks {
		r, _, _, _ := crashParseValue(a.value)
		for earlier, m := range maxBefore {
			if earlier < r && a.rev <= m {
				t.Errorf("round %d acknowledged revision %d, not above round %d's %d: a revision was reused", r, a.rev, earlier, m)
			}
		}
	}
	// The public read paths agree with the revision log, on a sample of
	// at most ~500 points each (they are slow under the race detector).
	stride := func(n int) int { return max(1, n/500) }
	for rev := uint64(1); rev <= st.Last+1; rev += uint64(stride(int(st.Last))) {
		m, err := b.Message(ctx, rev, ReadOptions{Stale: true})
		want, ok := byRev[rev]
		switch {
		case errors.Is(err, ErrKeyNotFound) && !ok:
		case err != nil:
			t.Fatalf("Message(%d): %v (stored: %v)", rev, err, ok)
		case !ok || m.Seq != rev || m.Key != want.key || string(m.Data) != want.value:
			t.Errorf("Message(%d) = %d %s=%q, revision log has %+v (%v)", rev, m.Seq, m.Key, m.Data, want, ok)
		}
	}
	for i := 0; i < len(stored); i += stride(len(stored)) {
		from := uint64(1)
		if i > 0 {
			from = stored[i-1] + 1
		}
		m, err := b.NextMessage(ctx, ">", from, ReadOptions{Stale: true})
		if err != nil || m.Seq != stored[i] {
			t.Fatalf("NextMessage(>, %d) = %v, %v; want revision %d", from, m, err, stored[i])
		}
	}
	if len(stored) > 0 {
		if m, err := b.NextMessage(ctx, ">", stored[len(stored)-1]+1, ReadOptions{Stale: true}); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("NextMessage past the last stored revision: %v, %v", m, err)
		}
		keys, err := b.Keys(ctx, ReadOptions{})
		if err != nil {
			t.Fatalf("keys: %v", err)
		}
		if len(keys) != len(revsOf) {
			t.Errorf("Keys lists %d keys, %d are stored", len(keys), len(revsOf))
		}
	}
	i := 0
	for k, revs := range revsOf {
		i++
		if !strings.HasPrefix(k, "h.") && i%stride(len(revsOf)) != 0 {
			continue
		}
		e, err := b.Get(ctx, k, ReadOptions{Stale: true})
		if want := byRev[revs[len(revs)-1]]; err != nil || e.Revision != want.rev || string(e.Value) != want.value {
			t.Errorf("Get(%s) = rev %d %q, %v; want rev %d %q", k, e.Revision, e.Value, err, want.rev, want.value)
		}
		if !strings.HasPrefix(k, "h.") {
			continue
		}
		h, err := b.History(ctx, k, ReadOptions{Stale: true})
		if err != nil || len(h) != len(revs) {
			t.Fatalf("History(%s): %d entries, %v; revision log has %v", k, len(h), err, revs)
		}
		for j, e := range h {
			if e.Revision != revs[j] || string(e.Value) != byRev[revs[j]].value {
				t.Errorf("History(%s)[%d] = rev %d %q, want rev %d %q", k, j, e.Revision, e.Value, revs[j], byRev[revs[j]].value)
			}
		}
	}
	logFirst, logLast, _ := b.group.Log().Stats()
	t.Logf("verified: %d acknowledged writes, %d revisions stored of %d assigned, %d keys, %d attempted; raft log %d..%d",
		len(rec.acks), len(byRev), st.Last, len(revsOf), len(rec.tried), logFirst, logLast)
	return st.Last
}

// verifyNextRevision checks that a write after recovery gets a revision
// above every revision assigned before.
func verifyNextRevision(t *testing.T, ctx context.Context, b *Bucket, last uint64) {
	t.Helper()
	rev, err := b.Put(ctx, "after.recovery", []byte("x"))
	if err != nil {
		t.Fatalf("put after recovery: %v", err)
	}
	if rev <= last {
		t.Fatalf("put after recovery got revision %d, not above the last revision %d", rev, last)
	}
}

// TestCrashChild is the writer process of TestCrashKill; it only runs
// when started by it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashKill")
	}
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	// os.Stdout is unbuffered: each line is one write(2), in order, sent
	// only after the Put it reports returned.
	var mu sync.Mutex
	emit := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	// The parent holds our stdin open; if it dies, we follow.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := New(crashConfig(dir, lg))
	if err != nil {
		emit("fatal open: %v", err)
		os.Exit(2)
	}
	emit("open %d", n.NodeID())
	ctx := context.Background()
	b, err := crashBucket(ctx, n)
	if err != nil {
		emit("fatal bucket: %v", err)
		os.Exit(2)
	}
	emit("ready")
	crashWriters(ctx, b, round,
		func(key, value string) { emit("try %s %s", key, value) },
		func(key, value string, rev uint64) { emit("ack %s %s %d", key, value, rev) },
		func(key, value string, err error) { emit("err %s %s %v", key, value, err) },
	).Wait()
}

// TestCrashKill kills a writer process with SIGKILL at random moments,
// restarts it on the same data directory, and finally checks the data
// directory against every write the processes acknowledged.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(crashSeed(t), 1))
	dir := t.TempDir()
	rec := &crashRecord{tried: map[string]string{}}
	rounds := 5 + rng.IntN(4)
	budget := start.Add(30 * time.Second)
	var nodeID string
	for round := 0; round < rounds; round++ {
		if round >= 3 && time.Now().After(budget) {
			t.Logf("time budget spent after %d rounds", round)
			break
		}
		// The first round is killed early, likely while the data
		// directory is initialized or the bucket created; the second
		// writes enough to truncate the raft log. Then mostly kill after
		// a number of acknowledgements (log-uniform, 1..crashMaxAcks),
		// sometimes after a delay, which may fall during recovery. The
		// last round always writes.
		acks, delay := 0, time.Duration(0)
		switch {
		case round == 0:
			delay = time.Duration(1+rng.IntN(40)) * time.Millisecond
		case round == 1:
			acks = crashCompactAcks + rng.IntN(1000)
		case round == rounds-1 || rng.IntN(4) != 0:
			acks = int(math.Exp(rng.Float64() * math.Log(crashMaxAcks)))
		default:
			delay = time.Duration(1+rng.IntN(600)) * time.Millisecond
		}
		id := crashRound(t, dir, round, acks, delay, rec)
		if id != "" {
			if nodeID != "" && id != nodeID {
				t.Fatalf("round %d: node ID changed from %s to %s", round, nodeID, id)
			}
			nodeID = id
		}
	}
	if len(rec.acks) == 0 {
		t.Fatal("no write was acknowledged")
	}
	killed := time.Now()
	n := startNode(t, dir)
	if id := strconv.FormatUint(n.NodeID(), 10); nodeID != "" && id != nodeID {
		t.Fatalf("node ID changed from %s to %s", nodeID, id)
	}
	t.Logf("recovered in %v", time.Since(killed).Round(time.Millisecond))
	ctx := testCtx(t)
	b, err := n.Bucket(crashBucketNm)
	if err != nil {
		t.Fatal(err)
	}
	last := verifyCrash(t, ctx, b, rec)
	verifyNextRevision(t, ctx, b, last)
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// crashRound runs one writer process until it is killed, after acks
// acknowledgements (acks > 0) or after delay, recording what it reports.
// It returns the node ID the process reported ("" if none).
func crashRound(t *testing.T, dir string, round, acks int, delay time.Duration, rec *crashRecord) string {
	t.Helper()
	roundStart := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var killOnce sync.Once
	kill := func() { killOnce.Do(func() { _ = cmd.Process.Kill() }) }
	defer kill()
	if delay > 0 {
		timer := time.AfterFunc(delay, kill)
		defer timer.Stop()
	}
	stuck := time.AfterFunc(crashRoundWait, kill)
	defer stuck.Stop()

	// Read everything the process wrote, also after the kill: lines
	// written before it are still in the pipe.
	var id string
	nAcks, nErrs := 0, 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "open":
			if len(f) == 2 {
				id = f[1]
			}
		case "try":
			if len(f) == 3 {
				rec.tried[f[2]] = f[1]
			}
		case "ack":
			if len(f) != 4 {
				t.Fatalf("round %d: malformed line %q", round, sc.Text())
			}
			rev, err := strconv.ParseUint(f[3], 10, 64)
			if err != nil {
				t.Fatalf("round %d: malformed line %q", round, sc.Text())
			}
			rec.acks = append(rec.acks, crashAck{f[1], f[2], rev})
			nAcks++
			if acks > 0 && nAcks >= acks {
				kill()
			}
		case "err":
			nErrs++
			if nErrs <= 3 {
				t.Logf("round %d: write failed: %s", round, sc.Text())
			}
		case "fatal":
			t.Errorf("round %d: %s", round, sc.Text())
		}
	}
	waitErr := cmd.Wait()
	if !stuck.Stop() {
		t.Fatalf("round %d: no progress in %v (%d acknowledgements of %d)\nstderr:\n%s", round, crashRoundWait, nAcks, acks, stderr.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(waitErr, &exitErr) || exitErr.ExitCode() != -1 {
		t.Fatalf("round %d: writer ended by itself (%v), not by the kill\nstderr:\n%s", round, waitErr, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") || strings.Contains(s, "level=ERROR") {
		t.Fatalf("round %d: writer reported problems:\n%s", round, s)
	}
	how := fmt.Sprintf("after %d acknowledgements", acks)
	if acks == 0 {
		how = fmt.Sprintf("after %v", delay)
	}
	t.Logf("round %d: killed %s: %d acknowledged, %d failed, %v", round, how, nAcks, nErrs, time.Since(roundStart).Round(time.Millisecond))
	return id
}

// TestCrashClone writes under load on Pebble's crashable in-memory
// filesystem, takes a crash clone at a random moment (keeping a given
// share of the unsynced data), and opens a node on the clone.
func TestCrashClone(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	seed := crashSeed(t)
	// The last case crashes after the raft log was truncated (slow under
	// the race detector: one case, losing all or half the unsynced data).
	pcts := []int{0, 0, 10, 50, 50, 90, 100, []int{0, 50}[seed%2]}
	for i, pct := range pcts {
		compacted := i == len(pcts)-1
		t.Run(fmt.Sprintf("unsynced=%d%%/compacted=%v/%d", pct, compacted, i), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			crashCloneRun(t, rng, pct, compacted)
		})
	}
}

func crashCloneRun(t *testing.T, rng *rand.Rand, pct int, compacted bool) {
	start := time.Now()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := crashConfig("/data", lg)
	fs := vfs.NewCrashableMem()
	n, err := New(cfg, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := testCtx(t)
	b, err := crashBucket(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	target := int(math.Exp(rng.Float64() * math.Log(crashMaxAcks)))
	if compacted {
		target = crashCompactAcks + rng.IntN(3000)
	}
	var (
		mu      sync.Mutex
		rec     = &crashRecord{tried: map[string]string{}}
		reached = make(chan struct{})
		errs    []error
	)
	wctx, stop := context.WithCancel(ctx)
	wg := crashWriters(wctx, b, 0,
		func(key, value string) { mu.Lock(); rec.tried[value] = key; mu.Unlock() },
		func(key, value string, rev uint64) {
			mu.Lock()
			defer mu.Unlock()
			rec.acks = append(rec.acks, crashAck{key, value, rev})
			if len(rec.acks) == target {
				close(reached)
			}
		},
		func(key, value string, err error) {
			if wctx.Err() == nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
				mu.Unlock()
			}
		},
	)
	defer func() { stop(); wg.Wait() }()
	select {
	case <-reached:
	case <-ctx.Done():
		t.Fatalf("writers did not reach %d acknowledgements", target)
	}
	// Everything acknowledged so far was synced before its Put returned.
	mu.Lock()
	acked := slices.Clone(rec.acks)
	mu.Unlock()
	clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
	cloned := time.Now()
	stop()
	wg.Wait()
	if err := n.Close(); err != nil {
		t.Fatalf("closing the original node: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("writes failed under load: %v", errs[0])
	}
	mu.Lock()
	total := len(rec.acks)
	mu.Unlock()

	opened := time.Now()
	n2, err := New(cfg, Options{FS: clone})
	if err != nil {
		t.Fatalf("opening the crash clone: %v", err)
	}
	defer n2.Close()
	t.Logf("crash after %d acknowledgements in %v (%d by the close); recovered in %v", len(acked), cloned.Sub(start).Round(time.Millisecond), total, time.Since(opened).Round(time.Millisecond))
	b2, err := n2.Bucket(crashBucketNm)
	if err != nil {
		t.Fatal(err)
	}
	last := verifyCrash(t, ctx, b2, &crashRecord{tried: rec.tried, acks: acked})
	if first, _, _ := b2.group.Log().Stats(); compacted && first <= 2 {
		t.Errorf("raft log starts at %d: it was never truncated, the test missed its aim", first)
	}
	verifyNextRevision(t, ctx, b2, last)
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}
