package checker

import (
	"fmt"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/cairnkv/cairn/chaos/history"
)

// regInput is a register operation as porcupine sees it.
type regInput struct {
	Key    string
	Kind   string // history.Get, Put or CAS
	Value  string // written
	Expect uint64 // CAS
}

// regOutput is its outcome.
type regOutput struct {
	Result history.Result
	Found  bool
	Value  string // read
	Rev    uint64
}

// regState is one key: its value and its revision. RevKnown is false
// after a write whose revision nobody learned (an unresolved unknown
// write); Rev is then a lower bound.
type regState struct {
	Exists   bool
	Value    string
	Rev      uint64
	RevKnown bool
}

// registerModel is a key of a NATS KV bucket: get, put, and update
// (compare-and-set on the key's latest revision). Every write gets a
// revision above the key's current one. The history is partitioned by
// key: revisions are bucket-wide, but the model only compares a key's
// revisions with each other (cross-key order is the revision checker's).
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		idx := map[string]int{}
		var parts [][]porcupine.Operation
		for _, op := range h {
			k := op.Input.(regInput).Key
			i, ok := idx[k]
			if !ok {
				i = len(parts)
				idx[k] = i
				parts = append(parts, nil)
			}
			parts[i] = append(parts[i], op)
		}
		return parts
	},
	Init: func() any { return regState{} },
	Step: func(st, in, out any) (bool, any) {
		return stepRegister(st.(regState), in.(regInput), out.(regOutput))
	},
	DescribeOperation: func(in, out any) string {
		i, o := in.(regInput), out.(regOutput)
		switch {
		case i.Kind == history.Get && o.Found:
			return fmt.Sprintf("get(%s) → %q@%d", i.Key, o.Value, o.Rev)
		case i.Kind == history.Get:
			return fmt.Sprintf("get(%s) → not found", i.Key)
		case o.Result == history.Unknown:
			return fmt.Sprintf("%s(%s, %q, %d) → unknown", i.Kind, i.Key, i.Value, i.Expect)
		case o.Result == history.Fail:
			return fmt.Sprintf("cas(%s, %q, if %d) → wrong revision", i.Key, i.Value, i.Expect)
		case i.Kind == history.CAS:
			return fmt.Sprintf("cas(%s, %q, if %d) → @%d", i.Key, i.Value, i.Expect, o.Rev)
		}
		return fmt.Sprintf("put(%s, %q) → @%d", i.Key, i.Value, o.Rev)
	},
	DescribeState: func(st any) string {
		s := st.(regState)
		switch {
		case !s.Exists:
			return "absent"
		case !s.RevKnown:
			return fmt.Sprintf("%q@>%d", s.Value, s.Rev)
		}
		return fmt.Sprintf("%q@%d", s.Value, s.Rev)
	},
}

// stepRegister is the model's step function.
func stepRegister(s regState, in regInput, out regOutput) (bool, regState) {
	revMatches := func(rev uint64) bool { // could the key's revision be rev?
		if s.RevKnown {
			return s.Rev == rev
		}
		return rev > s.Rev
	}
	written := func(rev uint64, known bool) regState {
		if !known {
			rev = s.Rev
		}
		return regState{Exists: true, Value: in.Value, Rev: rev, RevKnown: known}
	}
	switch in.Kind {
	case history.Get:
		if !out.Found {
			return !s.Exists, s
		}
		if !s.Exists || s.Value != out.Value || !revMatches(out.Rev) {
			return false, s
		}
		s.Rev, s.RevKnown = out.Rev, true
		return true, s
	case history.Put:
		if out.Result == history.Unknown {
			return true, written(0, false)
		}
		return out.Rev > s.Rev, written(out.Rev, true)
	case history.CAS:
		pre := s.Exists && revMatches(in.Expect)
		switch out.Result {
		case history.Fail:
			return !(s.Exists && s.RevKnown && s.Rev == in.Expect), s
		case history.Unknown:
			if !pre {
				return true, s // it failed; had it applied, it would be linearized last
			}
			return true, written(0, false)
		}
		return pre && out.Rev > in.Expect, written(out.Rev, true)
	}
	return false, s
}

// Window is a stretch of the run to mark in the visualization, such as a
// fault.
type Window struct {
	Name       string
	Start, End int64
	Details    string
}

// LinearResult is the outcome of a linearizability check.
type LinearResult struct {
	Result    porcupine.CheckResult
	Ops       int
	Anomalies []Anomaly
	// Visualization is the HTML file written on failure ("" if none).
	Visualization string
}

// Linearizable checks the register operations of one bucket (unknown
// writes already resolved, see Writes) with porcupine, partitioned by
// key, within timeout. On failure it writes porcupine's visualization to
// vizPath (when not empty), with the windows marked.
func Linearizable(ops []history.Op, timeout time.Duration, vizPath string, windows []Window) LinearResult {
	var pops []porcupine.Operation
	for _, o := range ops {
		if o.Kind == history.Add {
			continue
		}
		if !o.IsWrite() && o.Result != history.Ok {
			continue
		}
		if o.Inert() {
			continue // refused: it did nothing (Writes checks that)
		}
		ret := o.Return
		if o.Result == history.Unknown {
			ret = history.Never
		}
		pops = append(pops, porcupine.Operation{
			ClientId: o.Client,
			Input:    regInput{Key: o.Key, Kind: o.Kind, Value: o.Value, Expect: o.Expect},
			Call:     o.Call,
			Output:   regOutput{Result: o.Result, Found: o.Found, Value: o.Value, Rev: o.Rev},
			Return:   ret,
		})
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel, pops, timeout)
	lr := LinearResult{Result: res, Ops: len(pops)}
	switch res {
	case porcupine.Ok:
		return lr
	case porcupine.Illegal:
		lr.Anomalies = append(lr.Anomalies, anomalyf(KindNotLinearizable, "%d register operations are not linearizable (%s)", len(pops), illegalKeys(pops, timeout)))
	default:
		lr.Anomalies = append(lr.Anomalies, anomalyf(KindLinearizeTimeout, "porcupine could not decide within %s on %d operations", timeout, len(pops)))
	}
	if vizPath != "" {
		var anns []porcupine.Annotation
		for _, w := range windows {
			anns = append(anns, porcupine.Annotation{Tag: "faults", Start: w.Start, End: w.End, Description: w.Name, Details: w.Details, BackgroundColor: "#fde2c8"})
		}
		info.AddAnnotations(anns)
		if err := porcupine.VisualizePath(registerModel, info, vizPath); err == nil {
			lr.Visualization = vizPath
		}
	}
	return lr
}

// illegalKeys names the keys whose own history is not linearizable.
func illegalKeys(pops []porcupine.Operation, timeout time.Duration) string {
	var bad []string
	for _, part := range registerModel.Partition(pops) {
		if porcupine.CheckOperationsTimeout(registerModel, part, timeout) == porcupine.Illegal {
			bad = append(bad, part[0].Input.(regInput).Key)
		}
	}
	if len(bad) > 5 {
		bad = append(bad[:5], fmt.Sprintf("and %d more", len(bad)-5))
	}
	return "keys " + strings.Join(bad, ", ")
}
