package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestChaosCommandRefusesBadRuns(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"faults on an external cluster", []string{"--servers", "nats://127.0.0.1:1", "--nemesis", "kill"}, "cannot inject faults into a cluster it did not start"},
		{"unknown workload", []string{"--workload", "bank", "--bin", "/bin/true"}, `unknown workload "bank"`},
		{"watch alone", []string{"--workload", "watch", "--bin", "/bin/true"}, "add register"},
		{"too many replicas", []string{"--nodes", "3", "--replicas", "5", "--bin", "/bin/true"}, "more than --nodes"},
		{"history too long", []string{"--writes-per-key", "70", "--bin", "/bin/true"}, "give 1 to 60"},
		{"bad target", []string{"--target", "etcd", "--bin", "/bin/true"}, "give cairn or nats"},
		{"bad disk size", []string{"--disk-size", "lots", "--bin", "/bin/true"}, "--disk-size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"chaos", "run", "--dir", t.TempDir(), "--duration", "1s"}, c.args...)
			if code := run(args, &out, &errOut); code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errOut.String())
			}
			if !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("stderr %q lacks %q", errOut.String(), c.want)
			}
		})
	}
}

func TestChaosNemesesListsEveryFault(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"chaos", "nemeses"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, n := range []string{"kill", "kill-leader", "kill-majority", "pause", "partition-halves", "partition-bridge", "partition-leader", "loss", "delay", "restart", "member", "disk"} {
		if !strings.Contains(out.String(), n+" ") {
			t.Errorf("no %s in:\n%s", n, out.String())
		}
	}
}
