package main

// Bucket administration over the HTTP API: cairn bucket backup, restore.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/spf13/cobra"
)

const (
	envHTTP        = "CAIRN_HTTP"
	defaultHTTPURL = "http://127.0.0.1:8222"
)

// httpOptions are the flags of the verbs that talk to the HTTP API.
type httpOptions struct {
	url     string
	json    bool
	timeout time.Duration
	creds   credentials
}

// do sends req with the credentials.
func (o *httpOptions) do(req *http.Request) (*http.Response, error) {
	o.creds.authorize(req)
	c, err := o.creds.httpClient()
	if err != nil {
		return nil, err
	}
	res, err := c.Do(req)
	return res, o.creds.explain(err)
}

// base is --http, else $CAIRN_HTTP, else the default, without a trailing
// slash.
func (o *httpOptions) base() string {
	u := strings.TrimSpace(o.url)
	if u == "" {
		u = strings.TrimSpace(os.Getenv(envHTTP))
	}
	if u == "" {
		u = defaultHTTPURL
	}
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	return strings.TrimRight(u, "/")
}

func (o *httpOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.url, "http", "", "the node's HTTP API `URL` (or set "+envHTTP+"; default "+defaultHTTPURL+")")
	f.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: no limit)")
	o.creds.addFlags(f)
}

// httpError turns a non-2xx answer into an error, using the API's JSON
// error description when there is one.
func httpError(op string, res *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var eb struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil && eb.Error.Description != "" {
		return fmt.Errorf("%s: %s (HTTP %d)", op, eb.Error.Description, res.StatusCode)
	}
	return fmt.Errorf("%s: HTTP %s: %s", op, res.Status, strings.TrimSpace(string(body)))
}

func newBucketCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bucket",
		Short: "Back up and restore buckets (through a node's HTTP API)",
	}
	cmd.AddCommand(newBucketBackupCmd(), newBucketRestoreCmd())
	return cmd
}

// backupJSON is the --json output of backup and restore.
type backupJSON struct {
	Bucket   string `json:"bucket"`
	File     string `json:"file"`
	Messages uint64 `json:"messages"`
	Last     uint64 `json:"last_revision"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
}

func (o *httpOptions) print(w io.Writer, verb, file string, s node.BackupSummary) error {
	if o.json {
		return writeJSON(w, backupJSON{Bucket: s.Bucket, File: file, Messages: s.Messages, Last: s.Last, Bytes: s.Bytes, SHA256: s.SHA256})
	}
	_, err := fmt.Fprintf(w, "%s bucket %s: %d messages, last revision %d, %d bytes, sha256 %s\n",
		verb, s.Bucket, s.Messages, s.Last, s.Bytes, s.SHA256)
	return err
}

func newBucketBackupCmd() *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "backup BUCKET FILE",
		Short: "Write a consistent, checksummed backup of a bucket, history included",
		Long: `Download a consistent snapshot of one bucket (every stored revision, with
its revision number and time, and the bucket's configuration) from a
node's HTTP API into FILE. The file is verified before it replaces FILE
(written to a temporary file and renamed).`,
		Example: `  cairn bucket backup orders orders.backup
  cairn bucket backup orders /backups/orders.backup --http http://node1:8222`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, file := args[0], args[1]
			if err := node.ValidateBucketName(name); err != nil {
				return err
			}
			ctx := cmd.Context()
			if o.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, o.timeout)
				defer cancel()
			}
			req, err := http.NewRequestWithContext(ctx, "GET", o.base()+"/v1/buckets/"+url.PathEscape(name)+"/backup", nil)
			if err != nil {
				return err
			}
			res, err := o.do(req)
			if err != nil {
				return fmt.Errorf("backup %s: %w", name, err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return httpError("backup "+name, res)
			}
			sum, err := writeAtomic(file, func(f *os.File) (node.BackupSummary, error) {
				if _, err := io.Copy(f, res.Body); err != nil {
					return node.BackupSummary{}, fmt.Errorf("downloading: %w", err)
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return node.BackupSummary{}, err
				}
				return node.VerifyBackup(f)
			})
			if err != nil {
				return fmt.Errorf("backup %s: %w", name, err)
			}
			return o.print(cmd.OutOrStdout(), "backed up", file, sum)
		},
	}
	o.addFlags(cmd)
	return cmd
}

// writeAtomic writes path through a temporary file in its directory,
// synced and renamed over path only when fill succeeds.
func writeAtomic[T any](path string, fill func(f *os.File) (T, error)) (T, error) {
	var zero T
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return zero, err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	v, err := fill(f)
	if err != nil {
		return zero, err
	}
	if err := f.Sync(); err != nil {
		return zero, err
	}
	if err := f.Close(); err != nil {
		return zero, err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return zero, err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return v, nil
}

func newBucketRestoreCmd() *cobra.Command {
	o := &httpOptions{}
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Recreate a bucket from a backup, with its revisions and times",
		Long: `Send a backup written by "cairn bucket backup" to a node's HTTP API. The
file is verified here and again by the node; a damaged file is refused
and creates nothing. The bucket must not exist yet, or be empty.`,
		Example: `  cairn bucket restore orders.backup --http http://127.0.0.1:8222`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			sum, err := node.VerifyBackup(f)
			if err != nil {
				return fmt.Errorf("restore %s: %w", file, err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			ctx := cmd.Context()
			if o.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, o.timeout)
				defer cancel()
			}
			req, err := http.NewRequestWithContext(ctx, "POST", o.base()+"/v1/restore", f)
			if err != nil {
				return err
			}
			req.ContentLength = sum.Bytes
			req.Header.Set("Content-Type", "application/octet-stream")
			res, err := o.do(req)
			if err != nil {
				return fmt.Errorf("restore %s: %w", sum.Bucket, err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return httpError("restore "+sum.Bucket, res)
			}
			var out struct {
				Name  string `json:"name"`
				State struct {
					Messages     uint64 `json:"messages"`
					LastRevision uint64 `json:"last_revision"`
				} `json:"state"`
				Backup node.BackupSummary `json:"backup"`
			}
			if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
				return fmt.Errorf("restore %s: reading the answer: %w", sum.Bucket, err)
			}
			if out.Backup.SHA256 != sum.SHA256 {
				return errors.New("restore: the node read a different file (checksum differs)")
			}
			return o.print(cmd.OutOrStdout(), "restored", file, out.Backup)
		},
	}
	o.addFlags(cmd)
	return cmd
}
