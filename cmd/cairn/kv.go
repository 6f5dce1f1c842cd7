package main

// The `cairn kv` client verbs. They are shaped like `nats kv` (same verbs,
// arguments and most flags) and talk to cairn through nats.go's jetstream
// KeyValue API, so they work against any NATS JetStream server too.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	benchtarget "github.com/cairnkv/cairn/bench/target"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const (
	// defaultServer is where a node started with default flags listens.
	defaultServer = "nats://127.0.0.1:4222"
	// envServer overrides defaultServer when -s/--server is not given.
	envServer      = envPrefix + "_SERVER"
	defaultTimeout = 5 * time.Second
)

// clientOptions are the flags every client verb shares.
type clientOptions struct {
	server     string
	serverFlag *pflag.Flag
	timeout    time.Duration
	json       bool
	creds      credentials
}

// addConnFlags defines -s/--server and --timeout on fs.
func (o *clientOptions) addConnFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.server, "server", "s", defaultServer,
		"NATS `URL[,URL]` of cairn nodes (or set "+envServer+")")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout,
		"how long to wait for the connection and for each request")
	o.creds.addFlags(fs)
	o.serverFlag = fs.Lookup("server")
}

// servers is the flag's value if given, else $CAIRN_SERVER, else the
// default.
func (o *clientOptions) servers() string {
	if o.serverFlag != nil && o.serverFlag.Changed {
		return o.server
	}
	if env := strings.TrimSpace(os.Getenv(envServer)); env != "" {
		return env
	}
	return o.server
}

// dialRecorder dials like nats.go's default dialer but keeps the last
// dial error: nats.Connect reports only "no servers available", and a
// user needs to see "connection refused" or "i/o timeout".
type dialRecorder struct {
	d       net.Dialer
	mu      sync.Mutex
	lastErr error
}

func (r *dialRecorder) Dial(network, address string) (net.Conn, error) {
	c, err := r.d.Dial(network, address)
	if err != nil {
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
	}
	return c, err
}

func (r *dialRecorder) last() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// client is a connection to cairn (or any NATS JetStream server).
type client struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	url     string // what the user asked for, for messages
	timeout time.Duration
}

// connect opens a connection to the servers; name identifies the verb in
// the server's connection list.
func (o *clientOptions) connect(name string) (*client, error) {
	if o.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive, got %s", o.timeout)
	}
	url := o.servers()
	rec := &dialRecorder{d: net.Dialer{Timeout: o.timeout}}
	nc, err := nats.Connect(url, append(o.creds.natsOptions(),
		nats.Name("cairn "+name),
		nats.Timeout(o.timeout),
		nats.SetCustomDialer(rec),
		// Only the servers asked for: a verb pointed at one node talks
		// to that node (reading through node 3 means node 3), and a
		// refusal (a credential, a certificate) is reported as that
		// node's, not as the last error of the other nodes INFO
		// announced, which a host outside their network may not even
		// reach under those addresses.
		nats.IgnoreDiscoveredServers(),
	)...)
	url = benchtarget.RedactURLs(url)
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) && rec.last() != nil {
			err = rec.last()
		}
		err = o.creds.explain(err)
		return nil, fmt.Errorf("cannot connect to %s: %s", url, oneLine(strings.TrimPrefix(err.Error(), "nats: ")))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return &client{nc: nc, js: js, url: url, timeout: o.timeout}, nil
}

func (c *client) close() { c.nc.Close() }

// ctx bounds one request by --timeout.
func (c *client) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, c.timeout)
}

// fail turns err from operation op on target ("orders" or "orders/eu.1")
// into the one-line error main prints: "get orders/eu.1: key not found".
func (c *client) fail(op, target string, err error) error {
	return &cliError{msg: fmt.Sprintf("%s %s: %s", op, target, c.describe(err)), err: err}
}

// describe says what went wrong in a few words, without nats.go's
// "nats: API error: code=..." wrapping.
func (c *client) describe(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Sprintf("no answer from %s within %s", c.url, c.timeout)
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Sprintf("no JetStream API at %s (is it a cairn node?)", c.url)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrConnectionClosed):
		return fmt.Sprintf("connection to %s closed", c.url)
	case errors.Is(err, jetstream.ErrBucketNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
		return "bucket not found"
	case errors.Is(err, jetstream.ErrBucketExists):
		return "bucket exists with a different configuration"
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return "key not found"
	case errors.Is(err, jetstream.ErrInvalidBucketName):
		return "invalid bucket name (letters, digits, - and _ only)"
	case errors.Is(err, jetstream.ErrInvalidKey):
		return "invalid key (letters, digits, -, _, =, / and . only; no leading or trailing dot)"
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Description != "" {
		return oneLine(apiErr.Description)
	}
	return oneLine(strings.TrimPrefix(err.Error(), "nats: "))
}

// cliError is an error with a message fit for one stderr line.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// newKVCmd is `cairn kv` and its verbs.
func newKVCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Use key/value buckets: add, put, get, watch, ... (like `nats kv`)",
		Long: `Work with key/value buckets through the NATS JetStream KV API, as the
` + "`nats kv`" + ` CLI does: the same verbs, arguments and most of the same flags.

-s/--server takes one or more NATS URLs (comma separated); without it,
` + envServer + ` is used, else ` + defaultServer + `. Output is for people
by default; --json prints one JSON object per line (per entry, key, bucket
or result) for scripts. Values in JSON are base64 in "value", and also
in "value_string" when they are valid UTF-8. Errors go to stderr as one
line, and the exit status is 1.`,
		Example: `  cairn kv add orders --history 5
  cairn kv put orders eu.1 '{"qty":3}'
  cairn kv get orders eu.1
  cairn kv watch orders 'eu.>'
  cairn kv ls orders 'eu.*'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o.addConnFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().BoolVar(&o.json, "json", false, "print one JSON object per line, for scripts")
	cmd.AddCommand(
		newKVAddCmd(o),
		newKVPutCmd(o),
		newKVGetCmd(o),
		newKVCreateCmd(o),
		newKVUpdateCmd(o),
		newKVDelCmd(o),
		newKVPurgeCmd(o),
		newKVHistoryCmd(o),
		newKVWatchCmd(o),
		newKVLsCmd(o),
		newKVInfoCmd(o),
		newKVRmCmd(o),
	)
	return cmd
}

// bucket binds to an existing bucket; op names the verb in errors.
func (c *client) bucket(ctx context.Context, op, name string) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, name)
	if err != nil {
		return nil, c.fail(op, name, err)
	}
	return kv, nil
}

// withBucket connects, binds to the bucket and calls fn with a context
// bounded by --timeout.
func (o *clientOptions) withBucket(cmd *cobra.Command, op, bucket string,
	fn func(ctx context.Context, c *client, kv jetstream.KeyValue) error,
) error {
	c, err := o.connect("kv " + op)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(cmd.Context())
	defer cancel()
	kv, err := c.bucket(ctx, op, bucket)
	if err != nil {
		return err
	}
	return fn(ctx, c, kv)
}

// entryJSON is one key/value entry in --json output.
type entryJSON struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Revision  uint64 `json:"revision"`
	Operation string `json:"operation"` // PUT, DEL or PURGE
	Created   string `json:"created"`   // RFC 3339 with nanoseconds, UTC
	Length    int    `json:"length"`
	// Value is base64 (encoding/json's form of []byte).
	Value []byte `json:"value"`
	// ValueString is the value as text when it is valid UTF-8.
	ValueString *string `json:"value_string,omitempty"`
}

func toEntryJSON(e jetstream.KeyValueEntry) entryJSON {
	v := e.Value()
	if v == nil {
		v = []byte{}
	}
	j := entryJSON{
		Bucket:    e.Bucket(),
		Key:       e.Key(),
		Revision:  e.Revision(),
		Operation: opName(e.Operation()),
		Created:   e.Created().UTC().Format(time.RFC3339Nano),
		Length:    len(v),
		Value:     v,
	}
	if utf8.Valid(v) {
		s := string(v)
		j.ValueString = &s
	}
	return j
}

// opName is the operation as the KV-Operation header spells it.
func opName(op jetstream.KeyValueOp) string {
	switch op {
	case jetstream.KeyValuePut:
		return "PUT"
	case jetstream.KeyValueDelete:
		return "DEL"
	case jetstream.KeyValuePurge:
		return "PURGE"
	default:
		return op.String()
	}
}

// resultJSON reports a write in --json output.
type resultJSON struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Operation string `json:"operation"`
	Revision  uint64 `json:"revision,omitempty"`
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// printable renders a value for a terminal: the text when it is valid
// UTF-8, else a note on how to get the bytes.
func printable(v []byte) string {
	if utf8.Valid(v) {
		return string(v)
	}
	return fmt.Sprintf("<%d bytes of binary data; use --raw or --json>", len(v))
}

// inline renders a value on one line: the text, with control characters
// escaped, when it is valid UTF-8.
func inline(v []byte) string {
	if !utf8.Valid(v) {
		return fmt.Sprintf("<binary, %d bytes>", len(v))
	}
	s := string(v)
	if strings.ContainsFunc(s, unicode.IsControl) {
		s = strconv.Quote(s)
		s = s[1 : len(s)-1]
	}
	return s
}

// preview is a value shortened to fit a table cell.
func preview(v []byte) string {
	s := inline(v)
	const max = 40
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max-3]) + "..."
	}
	return s
}

// humanTime formats a time for tables.
func humanTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000 MST")
}

// humanBytes is n in binary units: 0 B, 512 B, 1.5 KiB, 3.0 MiB.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// readValue is args[i] when present, else all of stdin (like `nats kv put`).
func readValue(cmd *cobra.Command, args []string, i int) ([]byte, error) {
	if len(args) > i {
		return []byte(args[i]), nil
	}
	v, err := io.ReadAll(cmd.InOrStdin())
	if err != nil {
		return nil, fmt.Errorf("reading the value from stdin: %w", err)
	}
	return v, nil
}

// parseRevision parses a revision argument.
func parseRevision(s string) (uint64, error) {
	r, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("revision %q is not a non-negative integer", s)
	}
	return r, nil
}

// confirm asks a yes/no question on stderr and reads the answer from
// stdin; anything but y or yes, including end of input, is no.
func confirm(cmd *cobra.Command, question string) (bool, error) {
	in := cmd.InOrStdin()
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	if line == "" || !isCharDevice(in) {
		// No echoed answer ended the prompt's line.
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// isCharDevice reports whether r is a character device, like a terminal
// (which echoes what is typed).
func isCharDevice(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
