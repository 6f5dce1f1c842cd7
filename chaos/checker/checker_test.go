package checker

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/cairnkv/cairn/chaos/history"
)

const B = "b"

// Shorthands for histories: times are small integers.
func put(c int, key, v string, call, ret int64, rev uint64) history.Op {
	return history.Op{Client: c, Bucket: B, Kind: history.Put, Key: key, Value: v, Call: call, Return: ret, Result: history.Ok, Rev: rev}
}
func unknownPut(c int, key, v string, call int64) history.Op {
	return history.Op{Client: c, Bucket: B, Kind: history.Put, Key: key, Value: v, Call: call, Return: history.Never, Result: history.Unknown}
}
func cas(c int, key, v string, expect uint64, call, ret int64, rev uint64) history.Op {
	return history.Op{Client: c, Bucket: B, Kind: history.CAS, Key: key, Value: v, Expect: expect, Call: call, Return: ret, Result: history.Ok, Rev: rev}
}
func casFail(c int, key, v string, expect uint64, call, ret int64) history.Op {
	return history.Op{Client: c, Bucket: B, Kind: history.CAS, Key: key, Value: v, Expect: expect, Call: call, Return: ret, Result: history.Fail}
}
func refusedPut(c int, key, v string, call, ret int64) history.Op {
	return history.Op{Client: c, Bucket: B, Kind: history.Put, Key: key, Value: v, Call: call, Return: ret, Result: history.Fail, Refused: true}
}
func refusedCAS(c int, key, v string, expect uint64, call, ret int64) history.Op {
	o := casFail(c, key, v, expect, call, ret)
	o.Refused = true
	return o
}
func get(c int, key, v string, call, ret int64, rev uint64) history.Op {
	return history.Op{Client: c, Bucket: B, Kind: history.Get, Key: key, Value: v, Call: call, Return: ret, Result: history.Ok, Rev: rev, Found: true}
}
func missing(c int, key string, call, ret int64) history.Op {
	return history.Op{Client: c, Bucket: B, Kind: history.Get, Key: key, Call: call, Return: ret, Result: history.Ok}
}
func add(c int, key, v string, res history.Result, rev uint64) history.Op {
	return history.Op{Client: c, Bucket: B, Kind: history.Add, Key: key, Value: v, Call: 1, Return: 2, Result: res, Rev: rev}
}
func ent(rev uint64, key, v string) history.Entry {
	return history.Entry{Rev: rev, Key: key, Value: v, Op: history.OpPut}
}
func scan(node string, until uint64, es ...history.Entry) history.Scan {
	return history.Scan{Node: node, Bucket: B, Entries: es, Until: until}
}

func TestLinearizable(t *testing.T) {
	cases := []struct {
		name string
		ops  []history.Op
		want porcupine.CheckResult
	}{
		{"sequential", []history.Op{put(0, "k", "a", 0, 1, 1), get(1, "k", "a", 2, 3, 1), cas(0, "k", "b", 1, 4, 5, 2), get(1, "k", "b", 6, 7, 2)}, porcupine.Ok},
		{"missing before any write", []history.Op{missing(0, "k", 0, 1), put(0, "k", "a", 2, 3, 1)}, porcupine.Ok},
		{"missing after a write", []history.Op{put(0, "k", "a", 0, 1, 1), missing(1, "k", 2, 3)}, porcupine.Illegal},
		{"stale read", []history.Op{put(0, "k", "a", 0, 1, 1), put(0, "k", "b", 2, 3, 2), get(1, "k", "a", 4, 5, 1)}, porcupine.Illegal},
		{"concurrent read of either", []history.Op{put(0, "k", "a", 0, 1, 1), put(0, "k", "b", 2, 6, 2), get(1, "k", "a", 3, 4, 1), get(2, "k", "b", 3, 5, 2)}, porcupine.Ok},
		{"read goes back", []history.Op{put(0, "k", "a", 0, 1, 1), put(0, "k", "b", 2, 8, 2), get(1, "k", "b", 3, 4, 2), get(1, "k", "a", 5, 6, 1)}, porcupine.Illegal},
		{"touching intervals are concurrent", []history.Op{put(0, "k", "a", 0, 1, 1), put(0, "k", "b", 2, 8, 2), get(1, "k", "b", 3, 4, 2), get(2, "k", "a", 4, 5, 1)}, porcupine.Ok},
		{"read with a wrong revision", []history.Op{put(0, "k", "a", 0, 1, 1), get(1, "k", "a", 2, 3, 7)}, porcupine.Illegal},
		{"revision goes back", []history.Op{put(0, "k", "a", 0, 1, 5), put(0, "k", "b", 2, 3, 3)}, porcupine.Illegal},
		{"unknown write seen later", []history.Op{put(0, "k", "a", 0, 1, 1), unknownPut(1, "k", "x", 2), get(2, "k", "x", 5, 6, 9), get(2, "k", "x", 7, 8, 9)}, porcupine.Ok},
		{"unknown write never seen", []history.Op{put(0, "k", "a", 0, 1, 1), unknownPut(1, "k", "x", 2), get(2, "k", "a", 5, 6, 1)}, porcupine.Ok},
		{"unknown write seen then unseen", []history.Op{put(0, "k", "a", 0, 1, 1), unknownPut(1, "k", "x", 2), get(2, "k", "x", 5, 6, 9), get(2, "k", "a", 7, 8, 1)}, porcupine.Illegal},
		{"cas on a stale revision succeeds", []history.Op{put(0, "k", "a", 0, 1, 1), put(0, "k", "b", 2, 3, 2), cas(1, "k", "c", 1, 4, 5, 3)}, porcupine.Illegal},
		{"cas on the right revision fails", []history.Op{put(0, "k", "a", 0, 1, 1), casFail(1, "k", "c", 1, 2, 3)}, porcupine.Illegal},
		{"cas fails on a stale revision", []history.Op{put(0, "k", "a", 0, 1, 1), put(0, "k", "b", 2, 3, 2), casFail(1, "k", "c", 1, 4, 5)}, porcupine.Ok},
		{"a refused put does nothing", []history.Op{put(0, "k", "a", 0, 1, 1), refusedPut(1, "k", "r", 2, 3), get(2, "k", "a", 4, 5, 1)}, porcupine.Ok},
		{"a refused cas on the right revision", []history.Op{put(0, "k", "a", 0, 1, 1), refusedCAS(1, "k", "c", 1, 2, 3), get(2, "k", "a", 4, 5, 1)}, porcupine.Ok},
		{"keys are independent", []history.Op{put(0, "k", "a", 0, 1, 5), put(0, "j", "b", 2, 3, 3), get(1, "j", "b", 4, 5, 3)}, porcupine.Ok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			viz := filepath.Join(t.TempDir(), "viz.html")
			r := Linearizable(c.ops, 10*time.Second, viz, []Window{{Name: "kill n1", Start: 0, End: 3}})
			if r.Result != c.want {
				t.Fatalf("got %s, want %s", r.Result, c.want)
			}
			if c.want == porcupine.Ok && len(r.Anomalies) > 0 {
				t.Fatalf("anomalies on a good history: %v", r.Anomalies)
			}
			if c.want == porcupine.Illegal {
				if len(r.Anomalies) != 1 || r.Anomalies[0].Kind != KindNotLinearizable {
					t.Fatalf("anomalies %v", r.Anomalies)
				}
				if st, err := os.Stat(viz); err != nil || st.Size() == 0 || r.Visualization != viz {
					t.Fatalf("no visualization written: %v", err)
				}
			}
		})
	}
}

func kinds(as []Anomaly) []string { return Kinds(as) }

func TestReconcile(t *testing.T) {
	cases := []struct {
		name  string
		scans []history.Scan
		want  []string
	}{
		{"agree", []history.Scan{scan("n1", 2, ent(1, "a", "x"), ent(2, "b", "y")), scan("n2", 2, ent(1, "a", "x"), ent(2, "b", "y"))}, nil},
		{"one behind but complete", []history.Scan{scan("n1", 1, ent(1, "a", "x")), scan("n2", 2, ent(1, "a", "x"), ent(2, "b", "y"))}, nil},
		{"diverge", []history.Scan{scan("n1", 2, ent(1, "a", "x"), ent(2, "b", "y")), scan("n2", 2, ent(1, "a", "x"), ent(2, "b", "z"))}, []string{KindDivergence}},
		{"gap", []history.Scan{scan("n1", 3, ent(1, "a", "x"), ent(3, "b", "y"))}, []string{KindRevisionGap}},
		{"order", []history.Scan{scan("n1", 2, ent(2, "a", "x"), ent(1, "b", "y"))}, []string{KindRevisionGap, KindRevisionOrder}},
		{"duplicate value", []history.Scan{scan("n1", 2, ent(1, "a", "x"), ent(2, "a", "x"))}, []string{KindDuplicateWrite}},
		{"incomplete", []history.Scan{{Node: "n1", Bucket: B, Entries: []history.Entry{ent(1, "a", "x")}, Until: 2, Err: "timeout"}}, []string{KindUnconverged}},
		{"one unreachable", []history.Scan{scan("n1", 1, ent(1, "a", "x")), {Node: "n2", Bucket: B, Until: 1, Err: "refused", Unreachable: true}}, nil},
		{"all unreachable", []history.Scan{{Node: "n2", Bucket: B, Until: 1, Err: "refused", Unreachable: true}}, []string{KindUnconverged}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, as := Reconcile(B, c.scans)
			if got := kinds(as); !slices.Equal(got, c.want) {
				t.Fatalf("got %v (%v), want %v", got, as, c.want)
			}
		})
	}
}

func TestWrites(t *testing.T) {
	final := []history.Scan{scan("n1", 3, ent(1, "k", "a"), ent(2, "k", "b"), ent(3, "k", "u1"))}
	cases := []struct {
		name     string
		ops      []history.Op
		want     []string
		resolved int // unknown writes resolved to Ok
		kept     int
	}{
		{"all there", []history.Op{put(0, "k", "a", 0, 1, 1), put(0, "k", "b", 2, 3, 2), get(1, "k", "b", 4, 5, 2)}, nil, 0, 3},
		{"lost", []history.Op{put(0, "k", "a", 0, 1, 1), put(0, "k", "c", 2, 3, 4)}, []string{KindLostWrite}, 0, 2},
		{"wrong revision", []history.Op{put(0, "k", "a", 0, 1, 2)}, []string{KindWrongRevision}, 0, 1},
		{"revision twice", []history.Op{put(0, "k", "a", 0, 1, 1), put(1, "k", "zz", 0, 1, 1)}, []string{KindLostWrite, KindRevisionDuplicate}, 0, 2},
		{"phantom read", []history.Op{get(0, "k", "nope", 0, 1, 2)}, []string{KindPhantomRead}, 0, 1},
		{"real time", []history.Op{put(0, "k", "b", 0, 1, 2), put(1, "k", "a", 5, 6, 1)}, []string{KindRevisionOrder}, 0, 2},
		{"refused put absent: dropped", []history.Op{put(0, "k", "a", 0, 1, 1), refusedPut(1, "k", "r", 2, 3)}, nil, 0, 1},
		{"refused put applied", []history.Op{refusedPut(1, "k", "b", 2, 3)}, []string{KindFailedApplied}, 0, 0},
		{"failed CAS absent: kept", []history.Op{casFail(0, "k", "c", 7, 0, 1)}, nil, 0, 1},
		{"failed CAS applied", []history.Op{casFail(0, "k", "b", 7, 0, 1)}, []string{KindFailedApplied}, 0, 1},
		{"refused CAS absent: dropped", []history.Op{refusedCAS(0, "k", "c", 7, 0, 1)}, nil, 0, 0},
		{"unknowns resolved or dropped", []history.Op{unknownPut(0, "k", "u1", 0), unknownPut(1, "k", "u2", 0), {Bucket: B, Kind: history.Get, Result: history.Unknown}}, nil, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, as := Reconcile(B, final)
			if len(as) > 0 {
				t.Fatal(as)
			}
			kept, as := Writes(f, c.ops)
			if got := kinds(as); !slices.Equal(got, c.want) {
				t.Fatalf("got %v (%v), want %v", got, as, c.want)
			}
			resolved := 0
			for _, o := range kept {
				if o.Result == history.Ok && o.Return == history.Never {
					resolved++
					if o.Rev != 3 {
						t.Errorf("resolved at %d, want 3", o.Rev)
					}
				}
			}
			if resolved != c.resolved || len(kept) != c.kept {
				t.Fatalf("resolved %d kept %d, want %d and %d", resolved, len(kept), c.resolved, c.kept)
			}
		})
	}
}

func TestSet(t *testing.T) {
	ops := []history.Op{add(0, "s.1", "v1", history.Ok, 1), add(0, "s.2", "v2", history.Ok, 2), add(1, "s.3", "v3", history.Unknown, 0), add(1, "s.4", "v4", history.Unknown, 0),
		add(2, "s.5", "v5", history.Fail, 0)}
	full := []history.Entry{ent(1, "s.1", "v1"), ent(2, "s.2", "v2"), ent(3, "s.3", "v3"), ent(4, "tombstone", "t")}
	cases := []struct {
		name      string
		scans     []history.Scan
		want      []string
		lost, rec int
	}{
		{"all there", []history.Scan{scan("n1", 4, full...), scan("n2", 4, full...)}, nil, 0, 1},
		{"lost on one node", []history.Scan{scan("n1", 4, full...), scan("n2", 4, full[0], full[2], full[3])}, []string{KindLostWrite}, 1, 1},
		{"lost everywhere", []history.Scan{scan("n1", 4, full[1:]...)}, []string{KindLostWrite}, 1, 1},
		{"unexpected", []history.Scan{scan("n1", 5, append(slices.Clone(full), ent(5, "s.9", "v9"))...)}, []string{KindUnexpectedWrite}, 0, 1},
		{"refused write applied", []history.Scan{scan("n1", 5, append(slices.Clone(full), ent(5, "s.5", "v5"))...)}, []string{KindFailedApplied}, 0, 1},
		{"incomplete scans are not judged", []history.Scan{{Node: "n1", Bucket: B, Until: 4, Err: "timeout"}}, nil, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, as := Set(B, ops, c.scans, map[string]bool{"tombstone": true})
			if got := kinds(as); !slices.Equal(got, c.want) {
				t.Fatalf("got %v (%v), want %v", got, as, c.want)
			}
			if r.Lost != c.lost || r.Recovered != c.rec || r.Acknowledged != 2 || r.Refused != 1 || r.Attempted != 5 {
				t.Fatalf("result %+v, want lost %d recovered %d", r, c.lost, c.rec)
			}
		})
	}
}

func TestWatch(t *testing.T) {
	f, as := Reconcile(B, []history.Scan{scan("n1", 5, ent(1, "a.1", "x"), ent(2, "b.1", "y"), ent(3, "a.2", "z"), ent(4, "a.1", "w"), ent(5, "b.2", "v"))})
	if len(as) > 0 {
		t.Fatal(as)
	}
	ev := func(rev uint64, session int) history.Event {
		return history.Event{Entry: f.Entries[rev], Session: session}
	}
	stream := func(filter string, evs ...history.Event) history.Stream {
		return history.Stream{Bucket: B, Filter: filter, Sessions: []history.Session{{From: 0}, {From: 3}}, Events: evs}
	}
	cases := []struct {
		name  string
		s     history.Stream
		until uint64
		want  []string
	}{
		{"everything", stream(">", ev(1, 0), ev(2, 0), ev(3, 1), ev(4, 1), ev(5, 1)), 5, nil},
		{"filtered", stream("a.*", ev(1, 0), ev(3, 1), ev(4, 1)), 5, nil},
		{"gap", stream("a.*", ev(1, 0), ev(4, 1)), 5, []string{KindWatchGap}},
		{"duplicate after resume", stream(">", ev(1, 0), ev(2, 0), ev(2, 1), ev(3, 1), ev(4, 1), ev(5, 1)), 5, []string{KindWatchDuplicate}},
		{"out of order", stream(">", ev(1, 0), ev(3, 0), ev(2, 0), ev(4, 1), ev(5, 1)), 5, []string{KindWatchOrder}},
		{"outside the filter", stream("a.*", ev(1, 0), ev(2, 0), ev(3, 1), ev(4, 1)), 5, []string{KindWatchFilter}},
		{"wrong value", stream("a.*", ev(1, 0), history.Event{Entry: ent(3, "a.2", "other")}, ev(4, 1)), 5, []string{KindWatchMismatch}},
		{"stalled", stream(">", ev(1, 0), ev(2, 0)), 5, []string{KindWatchStalled}},
		{"filtered and stalled", stream("a.*", ev(1, 0), ev(3, 1)), 5, []string{KindWatchStalled}},
		{"filtered with nothing after", stream("b.*", ev(2, 0), ev(5, 1)), 5, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := kinds(Watch(c.s, f, c.until)); !slices.Equal(got, c.want) {
				t.Fatalf("got %v (%v), want %v", got, Watch(c.s, f, c.until), c.want)
			}
		})
	}
}

func TestMatchFilter(t *testing.T) {
	cases := []struct {
		filter, key string
		want        bool
	}{
		{">", "a", true}, {">", "a.b", true}, {"a.>", "a", false}, {"a.>", "a.b.c", true},
		{"a.*", "a.b", true}, {"a.*", "a.b.c", false}, {"a.*", "b.c", false}, {"a.b", "a.b", true}, {"a.b", "a.bc", false},
		{"*.x", "s0.x", true}, {"*", "a.b", false},
	}
	for _, c := range cases {
		if got := MatchFilter(c.filter, c.key); got != c.want {
			t.Errorf("MatchFilter(%q, %q) = %v", c.filter, c.key, got)
		}
	}
}
