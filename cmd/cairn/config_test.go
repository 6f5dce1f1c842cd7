package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// clearCairnEnv unsets every CAIRN_* variable for the test (restored after).
func clearCairnEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, envPrefix+"_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// loadFor parses `cairn node ARGS` and loads its configuration.
func loadFor(t *testing.T, args []string) (config, error) {
	t.Helper()
	cmd, rest, err := newRootCmd().Find(append([]string{"node"}, args...))
	if err != nil {
		t.Fatalf("finding node command: %v", err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("parsing %v: %v", args, err)
	}
	return loadConfig(cmd)
}

func TestConfigPrecedence(t *testing.T) {
	const file = `
data-dir: /from/file
election-timeout: 3s
join: [file1:7946]
expect: 3
log-level: debug
expiry-interval: 2s
name: file-name
`
	tests := []struct {
		name    string
		file    string // written to $FILE when not empty
		env     map[string]string
		args    []string // $FILE is replaced by the file's path
		want    func(c *config)
		wantErr string
	}{
		{
			name: "defaults",
			want: func(c *config) {},
		},
		{
			name: "file over default",
			file: file,
			args: []string{"--config", "$FILE"},
			want: func(c *config) {
				c.Node.DataDir = "/from/file"
				c.Node.ElectionTimeout = 3 * time.Second
				c.Node.Join = []string{"file1:7946"}
				c.Node.Expect = 3
				c.Node.ExpiryInterval = 2 * time.Second
				c.Node.Name = "file-name"
				c.Log.Level = "debug"
			},
		},
		{
			name: "env over file",
			file: file,
			env: map[string]string{
				"CAIRN_DATA_DIR":         "/from/env",
				"CAIRN_ELECTION_TIMEOUT": "4s",
				"CAIRN_JOIN":             "env1:7946,env2:7946",
				"CAIRN_EXPIRY_INTERVAL":  "5s",
			},
			args: []string{"--config", "$FILE"},
			want: func(c *config) {
				c.Node.DataDir = "/from/env"
				c.Node.ElectionTimeout = 4 * time.Second
				c.Node.Join = []string{"env1:7946", "env2:7946"}
				c.Node.Expect = 3
				c.Node.ExpiryInterval = 5 * time.Second
				c.Node.Name = "file-name"
				c.Log.Level = "debug"
			},
		},
		{
			name: "flag over env over file",
			file: file,
			env: map[string]string{
				"CAIRN_DATA_DIR":         "/from/env",
				"CAIRN_ELECTION_TIMEOUT": "4s",
				"CAIRN_JOIN":             "env1:7946,env2:7946",
				"CAIRN_LOG_LEVEL":        "error",
			},
			args: []string{"--config", "$FILE", "--data-dir", "/from/flag",
				"--election-timeout", "5s", "--join", "flag1:7946,flag2:7946", "--join", "flag3:7946",
				"--log-level", "warn"},
			want: func(c *config) {
				c.Node.DataDir = "/from/flag"
				c.Node.ElectionTimeout = 5 * time.Second
				c.Node.Join = []string{"flag1:7946", "flag2:7946", "flag3:7946"}
				c.Node.Expect = 3
				c.Node.ExpiryInterval = 2 * time.Second
				c.Node.Name = "file-name"
				c.Log.Level = "warn"
			},
		},
		{
			name: "each layer wins where it is highest",
			file: "expect: 5\nclient-addr: 10.0.0.1:4222\n",
			env:  map[string]string{"CAIRN_NAME": "env-name", "CAIRN_CLIENT_ADDR": "10.0.0.2:4222"},
			args: []string{"--config", "$FILE", "--max-payload", "4096", "--tick-interval", "50ms"},
			want: func(c *config) {
				c.Node.Expect = 5
				c.Node.ClientAddr = "10.0.0.2:4222"
				c.Node.Name = "env-name"
				c.Node.MaxPayload = 4096
				c.Node.TickInterval = 50 * time.Millisecond
			},
		},
		{
			name: "a flag equal to its default still beats env",
			env:  map[string]string{"CAIRN_EXPECT": "5", "CAIRN_LOG_FORMAT": "json"},
			args: []string{"--expect", "1", "--log-format", "text"},
			want: func(c *config) {},
		},
		{
			name: "env of every flag",
			env: map[string]string{
				"CAIRN_NAME": "n", "CAIRN_DATA_DIR": "/d", "CAIRN_CLIENT_ADDR": "h:1",
				"CAIRN_HTTP_ADDR": "h:2", "CAIRN_PEER_ADDR": "h:3", "CAIRN_GOSSIP_ADDR": "h:4",
				"CAIRN_JOIN": "s:5", "CAIRN_EXPECT": "3", "CAIRN_ELECTION_TIMEOUT": "2s",
				"CAIRN_TICK_INTERVAL": "20ms", "CAIRN_MAX_PAYLOAD": "99", "CAIRN_LOG_LEVEL": "debug",
				"CAIRN_LOG_FORMAT": "json", "CAIRN_EXPIRY_INTERVAL": "1s", "CAIRN_REQUEST_TIMEOUT": "3s",
			},
			want: func(c *config) {
				n := &c.Node
				n.Name, n.DataDir, n.ClientAddr, n.HTTPAddr, n.PeerAddr, n.GossipAddr = "n", "/d", "h:1", "h:2", "h:3", "h:4"
				n.Join, n.Expect, n.ElectionTimeout, n.TickInterval = []string{"s:5"}, 3, 2*time.Second, 20*time.Millisecond
				n.MaxPayload, n.ExpiryInterval, n.RequestTimeout = 99, time.Second, 3*time.Second
				c.Log = logConfig{Level: "debug", Format: "json"}
			},
		},
		{
			name: "CAIRN_CONFIG names the file",
			file: "data-dir: /via/env-file\n",
			env:  map[string]string{"CAIRN_CONFIG": "$FILE"},
			want: func(c *config) { c.Node.DataDir = "/via/env-file" },
		},
		{
			name: "--config beats CAIRN_CONFIG",
			file: "data-dir: /via/flag-file\n",
			env:  map[string]string{"CAIRN_CONFIG": "/does/not/exist.yaml"},
			args: []string{"--config", "$FILE"},
			want: func(c *config) { c.Node.DataDir = "/via/flag-file" },
		},
		{
			name: "empty name in file falls back to the host name",
			file: "name: \"\"\n",
			args: []string{"--config", "$FILE"},
			want: func(c *config) {},
		},
		{
			name:    "unknown key in file",
			file:    "datadir: /typo\n",
			args:    []string{"--config", "$FILE"},
			wantErr: "datadir",
		},
		{
			name:    "wrong type in file",
			file:    "expect: many\n",
			args:    []string{"--config", "$FILE"},
			wantErr: "expect",
		},
		{
			name:    "bad duration in env",
			env:     map[string]string{"CAIRN_ELECTION_TIMEOUT": "soon"},
			wantErr: "election-timeout",
		},
		{
			name:    "missing file",
			args:    []string{"--config", "/no/such/cairn.yaml"},
			wantErr: "/no/such/cairn.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearCairnEnv(t)
			path := filepath.Join(t.TempDir(), "cairn.yaml")
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "$FILE", path))
			}
			var args []string
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "$FILE", path))
			}
			got, err := loadFor(t, args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			want := defaultConfig()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config mismatch\n got: %+v\nwant: %+v", got, want)
			}
		})
	}
}

func TestConfigDefaultsComeFromNode(t *testing.T) {
	clearCairnEnv(t)
	got, err := loadFor(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got.Node.Name != hostname() {
		t.Errorf("name = %q, want the host name %q", got.Node.Name, hostname())
	}
	if err := got.validate(false); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if err := got.validate(true); err == nil || !strings.Contains(err.Error(), "CAIRN_DATA_DIR") {
		t.Errorf("validate without data dir = %v, want an error naming CAIRN_DATA_DIR", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *config)
		wantErr string // "" means valid
	}{
		{"valid", func(c *config) {}, ""},
		{"bad address", func(c *config) { c.Node.PeerAddr = "nohostport" }, "peer-addr"},
		{"empty join entry", func(c *config) { c.Node.Join = []string{"a:1", ""} }, "join"},
		{"expect zero", func(c *config) { c.Node.Expect = 0 }, "expect"},
		{"election shorter than two ticks", func(c *config) { c.Node.ElectionTimeout = 150 * time.Millisecond }, "election-timeout"},
		{"zero tick", func(c *config) { c.Node.TickInterval = 0 }, "tick-interval"},
		{"zero payload", func(c *config) { c.Node.MaxPayload = 0 }, "max-payload"},
		{"zero connections", func(c *config) { c.Node.MaxConnections = 0 }, "max-connections"},
		{"negative subscriptions", func(c *config) { c.Node.MaxSubscriptions = -1 }, "max-subscriptions"},
		{"subscriptions unlimited", func(c *config) { c.Node.MaxSubscriptions = 0 }, ""},
		{"bad level", func(c *config) { c.Log.Level = "loud" }, "log-level"},
		{"bad format", func(c *config) { c.Log.Format = "xml" }, "log-format"},
		{"level case-insensitive", func(c *config) { c.Log.Level = "WARN" }, ""},
		{"gc percent too low", func(c *config) { c.GCPercent = 5 }, "gc-percent"},
		{"gc off", func(c *config) { c.GCPercent = -1 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			c.Node.DataDir = "/d"
			tt.change(&c)
			err := c.validate(true)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// TestPrintConfigRoundTrip checks that --print-config output, given back
// as the file, yields the same configuration.
func TestPrintConfigRoundTrip(t *testing.T) {
	clearCairnEnv(t)
	t.Setenv("CAIRN_EXPECT", "3")
	first, err := loadFor(t, []string{"--data-dir", "/d", "--join", "a:1,b:2", "--election-timeout", "1500ms"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeConfigYAML(&buf, first); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, buf.String())
	}
	if m["election-timeout"] != "1.5s" || m["expect"] != 3 {
		t.Errorf("unexpected values in\n%s", buf.String())
	}
	path := filepath.Join(t.TempDir(), "printed.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	clearCairnEnv(t)
	second, err := loadFor(t, []string{"--config", path})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("round trip changed the configuration\nfirst:  %+v\nsecond: %+v", first, second)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	lg, err := newLogger(&buf, logConfig{Level: "warn", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	lg.Info("hidden")
	lg.Warn("shown", "k", "v")
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) {
		t.Fatalf("unexpected log output %q", out)
	}
	if _, err := newLogger(&buf, logConfig{Level: "info", Format: "xml"}); err == nil {
		t.Fatal("format xml accepted")
	}
}
