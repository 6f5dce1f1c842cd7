package main

// docs/configuration.md is generated from the code: the keys and defaults
// of defaultConfig, the flags of `cairn node` and their help, and the
// environment variable of each key. TestConfigReferenceIsCurrent fails when
// the file differs from what the code says; regenerate it with
//
//	go generate ./cmd/cairn    (or: make docs)

//go:generate go test -run ^TestConfigReferenceIsCurrent$ -update-config-doc .

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite docs/configuration.md from the code")

// configDocPath is docs/configuration.md seen from this package.
var configDocPath = filepath.Join("..", "..", "docs", "configuration.md")

// flaglessKeys describes the configuration keys that have no flag of
// `cairn node` (file and environment only). A key with neither a flag nor
// an entry here fails the test, so every key is documented.
var flaglessKeys = map[string]string{
	"expiry-interval": "how often the leader of a bucket looks for values whose max age or per-key TTL has passed",
	"request-timeout": "how long a request may wait for replication before it fails: client requests, bucket operations, expiry proposals and calls to peers",
}

// keyNotes are constraints `cairn node` checks (config.validate) and
// other facts the flag help leaves out.
var keyNotes = map[string]string{
	keyPeerAddr:        "Peers dial this address as given when it names a host (they resolve the name at every dial, and peer TLS checks the certificate against it), else where the listener is bound (an IP address, the port a `:0` got; an unspecified host, `0.0.0.0` or `::`, under the gossip address), so it must be one they can reach; in containers give a name that resolves to the container (`cairn1:6222`).",
	keyGossipAddr:      "On 0.0.0.0 the node advertises its private IP; on a loopback address gossip uses fast local timers.",
	keyJoin:            "May include this node's own address, so every node can be given the same list.",
	keyExpect:          "At least 1. Used only when the cluster first forms.",
	keyElectionTimeout: "At least two ticks; counted in whole ticks (rounded down).",
	keyTickInterval:    "Positive.",
	keyMaxPayload:      "Positive. Announced to NATS clients as `max_payload`.",
	"tags":             "Each `KEY=VALUE`.",
	"replace-after":    "Positive.",
	"expiry-interval":  "Positive.",
	"request-timeout":  "Positive.",
	keyMount:           "Needs FUSE on the host (`/dev/fuse`, `fusermount3`); not available in the container image.",
}

// otherEnv are the environment variables that are not configuration keys
// of `cairn node`.
func otherEnv() [][2]string {
	return [][2]string{
		{envPrefix + "_" + strings.ToUpper(flagConfig), "the YAML configuration file of `cairn node`, when `--config` is not given"},
		{envServer, "NATS URL(s) of the nodes for `cairn kv`, `cairn health`, `cairn bench` and `cairn mount`, when `-s/--server` is not given (default `nats://127.0.0.1:4222`)"},
		{envHTTP, "HTTP API URL for `cairn cluster` and `cairn bucket`, when `--http` is not given (default `" + defaultHTTPURL + "`)"},
		{envCPUProfile, "write a CPU profile of this cairn process to the file it names (set by `cairn bench compare --profile`)"},
	}
}

func TestConfigReferenceIsCurrent(t *testing.T) {
	got, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	if *updateConfigDoc {
		if err := os.WriteFile(configDocPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatalf("%v (generate it: go generate ./cmd/cairn, or make docs)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/configuration.md is out of date with the code (config.go, node.Config, the flags of cairn node).\n"+
			"Regenerate it: go generate ./cmd/cairn   (or: make docs)\nFirst difference:\n%s", firstDiff(want, got))
	}
}

// firstDiff shows the first line that differs.
func firstDiff(file, code []byte) string {
	a, b := strings.Split(string(file), "\n"), strings.Split(string(code), "\n")
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("line %d\n  file: %q\n  code: %q", i+1, x, y)
		}
	}
	return "(none)"
}

// TestConfigReferenceCoversEveryKey guards the generator itself: every
// key of the configuration appears with its environment variable.
func TestConfigReferenceCoversEveryKey(t *testing.T) {
	doc, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settingsOf(defaultConfig()) {
		row := fmt.Sprintf("| `%s` |", s.key)
		if !bytes.Contains(doc, []byte(row)) || !bytes.Contains(doc, []byte("`"+envName(s.key)+"`")) {
			t.Errorf("key %s or %s missing from the reference", s.key, envName(s.key))
		}
	}
}

// configReference renders docs/configuration.md.
func configReference() ([]byte, error) {
	fs := pflag.NewFlagSet("node", pflag.ContinueOnError)
	addNodeFlags(fs)
	def := defaultConfig()

	var b bytes.Buffer
	b.WriteString(configDocIntro)
	b.WriteString("| key | flag | environment | default | meaning |\n|---|---|---|---|---|\n")
	keys := map[string]bool{}
	for _, s := range settingsOf(def) {
		keys[s.key] = true
		flagCol, meaning := "(none: file or environment)", flaglessKeys[s.key]
		if f := fs.Lookup(s.key); f != nil {
			name, usage := pflag.UnquoteUsage(f)
			flagCol = "`--" + f.Name
			if name != "" {
				flagCol += " " + name
			}
			flagCol += "`"
			meaning = usage
		}
		if meaning == "" {
			return nil, fmt.Errorf("configuration key %q has no flag and no description in flaglessKeys", s.key)
		}
		if note := keyNotes[s.key]; note != "" {
			meaning += ". " + note
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s |\n", s.key, flagCol, envName(s.key), defaultText(s), escapeCell(meaning))
	}
	var stray []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !keys[f.Name] {
			stray = append(stray, f.Name)
		}
	})
	if len(stray) > 0 {
		return nil, fmt.Errorf("flags of cairn node that are not configuration keys would be missing from the reference: %v", stray)
	}
	b.WriteString(configDocTypes)
	b.WriteString("\n## Other environment variables\n\nThese are read by other commands or by every command; they are not keys of the file.\n\n| variable | meaning |\n|---|---|\n")
	for _, e := range otherEnv() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", e[0], e[1])
	}
	b.WriteString(configDocExampleIntro)
	example := def
	example.Node.Name = "node1"
	example.Node.DataDir = "/var/lib/cairn"
	var y bytes.Buffer
	if err := writeConfigYAML(&y, example); err != nil {
		return nil, err
	}
	b.WriteString("```yaml\n")
	b.Write(y.Bytes())
	b.WriteString("```\n")
	b.WriteString(configDocOutro)
	return b.Bytes(), nil
}

// defaultText is a default as the reference shows it; the name, which
// defaults to the machine's host name, is described rather than shown.
func defaultText(s setting) string {
	if s.key == keyName {
		return "the host name"
	}
	switch v := s.value.(type) {
	case string:
		if v == "" {
			return "none"
		}
		return "`" + v + "`"
	case []string:
		if len(v) == 0 {
			return "none"
		}
		return "`" + strings.Join(v, ",") + "`"
	case time.Duration:
		return "`" + v.String() + "`"
	case int:
		if v >= 1<<20 && v%(1<<20) == 0 {
			return fmt.Sprintf("`%d` (%d MiB)", v, v>>20)
		}
		return fmt.Sprintf("`%d`", v)
	default:
		return fmt.Sprintf("`%v`", v)
	}
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

const configDocIntro = `<!-- Generated from cmd/cairn (config.go, node.Config, the flags of cairn node)
     by go generate ./cmd/cairn. Do not edit: a test fails when this file and
     the code disagree. -->

# Configuration reference

` + "`cairn node`" + ` takes its configuration from four places, highest
precedence first:

1. flags (` + "`cairn node --help`" + ` lists them);
2. environment variables: ` + "`CAIRN_`" + ` and the key in upper case with dashes
   as underscores (` + "`data-dir`" + ` is ` + "`CAIRN_DATA_DIR`" + `);
3. a YAML file given with ` + "`--config FILE`" + ` (or ` + "`CAIRN_CONFIG`" + `), whose
   keys are the keys below; an unknown key or a value of the wrong type
   is an error;
4. the defaults below.

` + "`cairn node --print-config`" + ` prints the effective configuration as YAML
(which ` + "`--config`" + ` accepts back) and exits; every invalid setting is
reported at once, before the node starts.

## Keys

`

const configDocTypes = `
Value types: durations are Go durations (` + "`250ms`, `5s`, `1m30s`" + `);
lists are YAML lists in the file and comma-separated in flags and
environment variables (` + "`--join a:7946,b:7946`" + ` or ` + "`--join`" + ` repeated);
addresses are ` + "`HOST:PORT`" + `.

The defaults of the four listeners suit one node per machine. A node
started by ` + "`cairn local`" + ` or in the container image gets other values: see
` + "`cairn local --help`" + ` and the ` + "`ENV`" + ` lines of the ` + "`Dockerfile`" + ` (which set
` + "`CAIRN_DATA_DIR=/data`" + ` and the client, HTTP and gossip listeners on
` + "`0.0.0.0`" + `).
`

const configDocExampleIntro = `
## Example file

Every key with its default (name and data directory filled in), as
` + "`cairn node --print-config`" + ` writes it:

`

const configDocOutro = `
For a cluster, each node also needs ` + "`peer-addr`" + ` and ` + "`gossip-addr`" + ` on an
address the others can reach, the same ` + "`join`" + ` list and the same
` + "`expect`" + `: see [operations.md](operations.md) and
[getting-started.md](getting-started.md).
`

// TestContainerFilesUseKnownSettings checks that every CAIRN_* variable
// the Dockerfile and docker-compose.cluster.yml give a node is one cairn
// reads: a misspelt one would be ignored without a word.
func TestContainerFilesUseKnownSettings(t *testing.T) {
	known := map[string]bool{}
	for _, s := range settingsOf(defaultConfig()) {
		known[envName(s.key)] = true
	}
	for _, e := range otherEnv() {
		known[e[0]] = true
	}
	for file, pattern := range map[string]string{
		"Dockerfile":                 `(CAIRN_[A-Z0-9_]+)=`,
		"docker-compose.cluster.yml": `(?m)^\s+(CAIRN_[A-Z0-9_]+):`,
	} {
		src, err := os.ReadFile(filepath.Join("..", "..", file))
		if err != nil {
			t.Fatal(err)
		}
		found := regexp.MustCompile(pattern).FindAllSubmatch(src, -1)
		if len(found) == 0 {
			t.Errorf("%s sets no CAIRN_* variable; has it changed shape?", file)
		}
		for _, m := range found {
			if !known[string(m[1])] {
				t.Errorf("%s sets %s, which cairn does not read (see docs/configuration.md)", file, m[1])
			}
		}
	}
}
