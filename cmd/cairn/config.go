package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/cairnkv/cairn/node"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// envPrefix prefixes every environment variable: the key "data-dir" is
// read from CAIRN_DATA_DIR.
const envPrefix = "CAIRN"

// Configuration keys. Each is also the flag name (where there is a flag)
// and the key in the YAML file; the environment variable is the key in
// upper case, dashes turned into underscores, with CAIRN_ in front.
const (
	keyName            = "name"
	keyDataDir         = "data-dir"
	keyClientAddr      = "client-addr"
	keyHTTPAddr        = "http-addr"
	keyPeerAddr        = "peer-addr"
	keyGossipAddr      = "gossip-addr"
	keyJoin            = "join"
	keyExpect          = "expect"
	keyElectionTimeout = "election-timeout"
	keyTickInterval    = "tick-interval"
	keyMaxPayload      = "max-payload"
	keyLogLevel        = "log-level"
	keyLogFormat       = "log-format"
	keyMount           = "mount"
	keyGCPercent       = "gc-percent"
)

// flagConfig names the YAML configuration file; it is not itself a
// configuration key. CAIRN_CONFIG is read when the flag is not given.
const flagConfig = "config"

// config is the effective configuration of `cairn node`: the node's own
// settings and the process-level ones (logging) that node.Config does not
// hold. The mapstructure keys are those of the file, the flags and the
// environment.
type config struct {
	Node  node.Config `mapstructure:",squash"`
	Log   logConfig   `mapstructure:",squash"`
	Mount mountConfig `mapstructure:",squash"`
	// GCPercent is the Go garbage collector's target (GOGC) for the node
	// process; see applyGCPercent.
	GCPercent int `mapstructure:"gc-percent"`
}

// mountConfig lists the buckets `cairn node` mounts in-process.
type mountConfig struct {
	// Mounts are BUCKET:DIR pairs (flag --mount, repeatable).
	Mounts []string `mapstructure:"mount"`
}

// logConfig configures the process's slog logger.
type logConfig struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"log-level"`
	// Format is text or json; logs go to stderr.
	Format string `mapstructure:"log-format"`
}

// defaultConfig is node.DefaultConfig plus the command's own defaults: the
// host name as node name, info-level text logs.
func defaultConfig() config {
	c := config{Node: node.DefaultConfig(), Log: logConfig{Level: "info", Format: "text"}, GCPercent: defaultGCPercent}
	c.Node.PeerAddr = "127.0.0.1:6222"
	c.Node.GossipAddr = "127.0.0.1:7946"
	if c.Node.Name == "" {
		c.Node.Name = hostname()
	}
	if c.Node.Join == nil {
		c.Node.Join = []string{}
	}
	c.Mount.Mounts = []string{}
	return c
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "cairn"
	}
	return h
}

// addNodeFlags defines the flags of `cairn node` that set configuration
// keys. Their defaults are shown in --help; when a flag is not given, the
// environment, then the file, then the default decide.
func addNodeFlags(fs *pflag.FlagSet) {
	d := defaultConfig()
	n := d.Node
	fs.String(keyName, n.Name, "node `NAME` (defaults to the host name)")
	fs.String(keyDataDir, n.DataDir, "data directory `DIR` (required); created if missing, refused if it holds foreign files")
	fs.String(keyClientAddr, n.ClientAddr, "NATS client listener `HOST:PORT`")
	fs.String(keyHTTPAddr, n.HTTPAddr, "HTTP API, health and metrics listener `HOST:PORT`")
	fs.String(keyPeerAddr, n.PeerAddr, "raft peer transport listener `HOST:PORT`")
	fs.String(keyGossipAddr, n.GossipAddr, "membership gossip listener `HOST:PORT`")
	fs.StringSlice(keyJoin, n.Join, "gossip `ADDR[,ADDR]` of existing cluster members to join")
	fs.Int(keyExpect, n.Expect, "number of nodes `N` that must be visible before the cluster forms")
	fs.Duration(keyElectionTimeout, n.ElectionTimeout, "how long followers wait for a leader before campaigning")
	fs.Duration(keyTickInterval, n.TickInterval, "length of one raft tick")
	fs.Int(keyMaxPayload, n.MaxPayload, "largest value (plus headers) accepted, in `BYTES`")
	fs.Int("max-connections", n.MaxConnections, "NATS client connections open at once, at most `N`")
	fs.Int("max-pending-publishes", n.MaxPendingPublishes, "publishes waiting for replication on this node at once, at most `N`; more are answered at once with 429 too many requests")
	fs.Int64("min-free-disk", n.MinFreeDisk, "free space in `BYTES` the data directory's filesystem must keep; below it writes are refused with 503 insufficient resources (0: no guard)")
	fs.Int("max-subscriptions", n.MaxSubscriptions, "subscriptions of one NATS client connection, at most `N` (0: no limit)")
	fs.Bool("no-advertise", n.NoAdvertise, "do not tell NATS clients the other nodes' client addresses (INFO connect_urls); for clients that reach the nodes by other addresses")
	fs.StringSlice("tags", n.Tags, "placement tags `KEY=VALUE[,KEY=VALUE]` buckets can ask for")
	fs.Duration("replace-after", n.ReplaceAfter, "how long a node may stay down before its replicas are re-created elsewhere")
	fs.String("gossip-key", n.GossipKey, "gossip encryption key: base64 of 16, 24 or 32 bytes, the same on every node")
	fs.String("peer-key", n.PeerKey, "peer port authentication `KEY[,ACCEPTED...]`: base64 of at least 16 bytes, the same on every node; connections without it are refused; keys after the first are also accepted from peers (to change the key)")
	fs.StringSlice("client-token", n.ClientToken, "token `TOKEN[,ACCEPTED...]` NATS clients must send in CONNECT and HTTP API callers as a bearer token; the first is what nodes send each other and must be the same on every node, the others are also accepted (to change it)")
	fs.StringSlice("client-nkeys", n.ClientNKeys, "nkey user public `KEY`s (U..., comma-separated) NATS clients may also sign in with (as nats-server's nkey users); with --client-token or --client-users, whose first is what nodes present to each other; not for the HTTP API")
	fs.StringSlice("client-users", n.ClientUsers, "users `USER:PASSWORD[,...]` NATS clients and HTTP API callers must authenticate as; the first is what nodes use with each other and must be the same on every node, passwords after it may be bcrypt hashes")
	fs.String("peer-tls-cert", n.PeerTLSCert, "PEM certificate `FILE` this node presents on the peer port, as TLS server and client: with --peer-tls-key and --peer-tls-ca, peer connections use mutual TLS; it must name the address peers dial this node at")
	fs.String("peer-tls-key", n.PeerTLSKey, "PEM private key `FILE` of --peer-tls-cert")
	fs.String("peer-tls-ca", n.PeerTLSCA, "PEM `FILE` of the CA(s) that signed every node's --peer-tls-cert; peers without such a certificate are refused")
	fs.String("client-tls-cert", n.ClientTLSCert, "PEM certificate `FILE` the NATS port and HTTP API present: every connection to them is TLS; it must name the addresses other nodes reach them at")
	fs.String("client-tls-key", n.ClientTLSKey, "PEM private key `FILE` of --client-tls-cert")
	fs.String("client-tls-ca", n.ClientTLSCA, "PEM `FILE` of the CA(s) that signed the other nodes' client certificates, which this node checks when it forwards to them (default: the system's roots)")
	fs.Bool("client-tls-verify", n.ClientTLSVerify, "make clients of the NATS port and HTTP API present a certificate signed by --client-tls-ca (mutual TLS); nodes present their own to each other")
	fs.String("cluster-name", n.ClusterName, "cluster `NAME`, the same on every node: nodes of differently named clusters ignore each other's gossip")
	fs.StringSlice(keyMount, d.Mount.Mounts, "mount bucket `BUCKET:DIR` in-process as a filesystem (repeatable)")
	fs.String(keyLogLevel, d.Log.Level, "log level: debug, info, warn or error")
	fs.String(keyLogFormat, d.Log.Format, "log format on stderr: text or json")
	fs.Int(keyGCPercent, d.GCPercent, "Go garbage collector target `PERCENT` (GOGC) for the node; the GOGC environment variable, when set, wins")
}

// loadConfig returns the effective configuration for cmd, whose flags must
// have been parsed. Precedence, highest first: flag, CAIRN_* environment
// variable, YAML file (--config or CAIRN_CONFIG), default. Unknown keys in
// the file and values of the wrong type are errors. The result is not
// validated; see config.validate.
func loadConfig(cmd *cobra.Command) (config, error) {
	v := viper.New()
	def := defaultConfig()
	for _, s := range settingsOf(def) {
		v.SetDefault(s.key, s.value)
		if f := cmd.Flags().Lookup(s.key); f != nil {
			if err := v.BindPFlag(s.key, f); err != nil {
				return config{}, fmt.Errorf("binding flag --%s: %w", s.key, err)
			}
		}
	}
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()

	if path := configPath(cmd); path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return config{}, fmt.Errorf("reading config file %s: %w", path, err)
		}
	}
	if err := checkKeys(v, def); err != nil {
		return config{}, err
	}
	var c config
	if err := v.UnmarshalExact(&c); err != nil {
		return config{}, fmt.Errorf("configuration: %w", flattenDecodeError(err))
	}
	if c.Node.Name == "" {
		c.Node.Name = def.Node.Name
	}
	if c.Node.Join == nil {
		c.Node.Join = []string{}
	}
	if c.Node.Tags == nil {
		c.Node.Tags = []string{}
	}
	if c.Node.ClientToken == nil {
		c.Node.ClientToken = []string{}
	}
	if c.Node.ClientUsers == nil {
		c.Node.ClientUsers = []string{}
	}
	if c.Node.ClientNKeys == nil {
		c.Node.ClientNKeys = []string{}
	}
	if c.Mount.Mounts == nil {
		c.Mount.Mounts = []string{}
	}
	return c, nil
}

// checkKeys rejects keys that are not configuration keys. Only the file
// can bring such keys in (environment variables are looked up by key).
func checkKeys(v *viper.Viper, def config) error {
	known := map[string]bool{}
	for _, s := range settingsOf(def) {
		known[s.key] = true
	}
	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("config file %s: unknown key %s (run `cairn node --print-config` to see the keys)",
		v.ConfigFileUsed(), strings.Join(unknown, ", "))
}

// flattenDecodeError drops mapstructure's multi-line header from an error
// that joins several decoding errors, keeping one line per error.
func flattenDecodeError(err error) error {
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		return errors.Join(multi.Unwrap()...)
	}
	return err
}

// configPath is --config, else CAIRN_CONFIG, else "" (no file).
func configPath(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup(flagConfig); f != nil && f.Changed {
		return f.Value.String()
	}
	return os.Getenv(envPrefix + "_CONFIG")
}

// validate reports every invalid setting at once. requireDataDir is false
// for --print-config, which may show a configuration without a data dir.
func (c config) validate(requireDataDir bool) error {
	n := c.Node
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if requireDataDir && n.DataDir == "" {
		bad(keyDataDir, "required (set --%s, %s or %q in the config file)", keyDataDir, envName(keyDataDir), keyDataDir)
	}
	for key, addr := range map[string]string{
		keyClientAddr: n.ClientAddr, keyHTTPAddr: n.HTTPAddr,
		keyPeerAddr: n.PeerAddr, keyGossipAddr: n.GossipAddr,
	} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not HOST:PORT: %w", addr, err)
		}
	}
	for _, addr := range n.Join {
		if strings.TrimSpace(addr) == "" {
			bad(keyJoin, "empty address in %q", strings.Join(n.Join, ","))
		}
	}
	if n.Expect < 1 {
		bad(keyExpect, "must be at least 1, got %d", n.Expect)
	}
	if n.TickInterval <= 0 {
		bad(keyTickInterval, "must be positive, got %s", n.TickInterval)
	} else if n.ElectionTimeout < 2*n.TickInterval {
		bad(keyElectionTimeout, "must be at least two ticks (%s), got %s", 2*n.TickInterval, n.ElectionTimeout)
	}
	for _, t := range n.Tags {
		if k, _, ok := strings.Cut(t, "="); !ok || k == "" {
			bad("tags", "%q is not KEY=VALUE", t)
		}
	}
	if n.ReplaceAfter <= 0 {
		bad("replace-after", "must be positive, got %s", n.ReplaceAfter)
	}
	if n.MaxPayload <= 0 {
		bad(keyMaxPayload, "must be positive, got %d", n.MaxPayload)
	}
	if n.MaxConnections <= 0 {
		bad("max-connections", "must be positive, got %d", n.MaxConnections)
	}
	if c.GCPercent < 10 && c.GCPercent != -1 {
		bad(keyGCPercent, "must be at least 10 (or -1: collection off), got %d", c.GCPercent)
	}
	if n.MaxPendingPublishes <= 0 {
		bad("max-pending-publishes", "must be positive, got %d", n.MaxPendingPublishes)
	}
	if n.MinFreeDisk < 0 {
		bad("min-free-disk", "must not be negative, got %d", n.MinFreeDisk)
	}
	if n.MaxSubscriptions < 0 {
		bad("max-subscriptions", "must not be negative, got %d", n.MaxSubscriptions)
	}
	if n.ExpiryInterval <= 0 {
		bad("expiry-interval", "must be positive, got %s", n.ExpiryInterval)
	}
	if n.RequestTimeout <= 0 {
		bad("request-timeout", "must be positive, got %s", n.RequestTimeout)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		bad(keyLogLevel, "%w", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad(keyLogFormat, "%q is neither text nor json", c.Log.Format)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// envName is the environment variable that sets key.
func envName(key string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// setting is one configuration key and its value.
type setting struct {
	key   string
	value any
}

// settingsOf lists the configuration keys of a config-like struct in field
// order, following mapstructure tags: "-" is skipped, ",squash" inlines a
// nested struct. It is the single list of keys that defaults, environment
// binding and --print-config share, so a field added to node.Config is
// picked up everywhere.
func settingsOf(v any) []setting {
	var out []setting
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch {
		case name == "-":
			continue
		case opts == "squash" && f.Type.Kind() == reflect.Struct:
			out = append(out, settingsOf(rv.Field(i).Interface())...)
			continue
		case name == "":
			name = strings.ToLower(f.Name)
		}
		out = append(out, setting{key: name, value: rv.Field(i).Interface()})
	}
	return out
}
