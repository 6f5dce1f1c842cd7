package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/natsref"
	"github.com/nats-io/nats.go/jetstream"
)

// TestHTTPMatchesNATS runs one random sequence of key operations through
// cairn's HTTP API and, as the same KV operations through nats.go,
// against nats-server, and requires the same outcome at every step:
// revision, value, operation, and the kind of failure (not found,
// revision mismatch, exists, too large). The HTTP API promises the
// NATS semantics in its own dress (docs/http-api.md); this holds it to
// them.
func TestHTTPMatchesNATS(t *testing.T) {
	for _, seed := range natsref.CompatSeeds(t, 1, 2) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { httpMatchesNATS(t, seed) })
	}
}

func httpMatchesNATS(t *testing.T, seed int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := startServer(t, Options{})
	ts.mustBucket("rnd", `{"history":3,"max_value_size":128}`)
	_, js := natsref.Connect(t, natsref.JetStream(t, false))
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "rnd", History: 3, MaxValueSize: 128})
	if err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewSource(seed))
	keys := []string{"a", "b", "c.d"}
	lastRev := map[string]uint64{}
	for step := range 300 {
		k := keys[rng.Intn(len(keys))]
		// Values at most 64 bytes, or over the 128-byte limit: between
		// the two, nats-server also counts the headers a request carries
		// (an update's expected revision), which an HTTP request does not
		// have, so there the two legitimately differ.
		val := strings.Repeat("x", rng.Intn(65))
		if rng.Intn(8) == 0 {
			val = strings.Repeat("y", 129+rng.Intn(20))
		}
		want := lastRev[k]
		if rng.Intn(3) == 0 {
			want = uint64(rng.Intn(step + 2))
		}
		var op, viaHTTP, viaNATS string
		// wrote records what nats.go said of a write, and its revision.
		wrote := func(rev uint64, err error) {
			viaNATS = natsRev(rev, err)
			if err == nil {
				lastRev[k] = rev
			}
		}
		switch rng.Intn(8) {
		case 0, 1:
			op = "put " + k
			r := ts.do("PUT", "/v1/kv/rnd/"+k, val)
			viaHTTP = httpRev(t, r)
			wrote(kv.Put(ctx, k, []byte(val)))
		case 2:
			op = "create " + k
			r := ts.do("PUT", "/v1/kv/rnd/"+k, val, "If-None-Match", "*")
			viaHTTP = httpRev(t, r)
			wrote(kv.Create(ctx, k, []byte(val)))
		case 3:
			op = fmt.Sprintf("update %s at %d", k, want)
			r := ts.do("PUT", "/v1/kv/rnd/"+k, val, "If-Match", fmt.Sprintf("%q", fmt.Sprint(want)))
			viaHTTP = httpRev(t, r)
			wrote(kv.Update(ctx, k, []byte(val), want))
		case 4:
			purge := rng.Intn(3) == 0
			path, name := "/v1/kv/rnd/"+k, "delete"
			if purge {
				path, name = path+"?purge", "purge"
			}
			op = name + " " + k
			r := ts.do("DELETE", path, nil)
			viaHTTP = httpRev(t, r)
			if strings.HasPrefix(viaHTTP, "ok ") {
				viaHTTP = "ok 0" // nats.go does not say a delete's revision
			}
			if purge {
				err = kv.Purge(ctx, k)
			} else {
				err = kv.Delete(ctx, k)
			}
			viaNATS = natsRev(0, err)
		case 5:
			op = "get " + k
			viaHTTP = httpEntry(t, ts.do("GET", "/v1/kv/rnd/"+k, nil))
			e, err := kv.Get(ctx, k)
			viaNATS = natsEntry(e, err)
		case 6:
			r := uint64(1 + rng.Intn(step+1))
			op = fmt.Sprintf("get %s at %d", k, r)
			viaHTTP = httpEntry(t, ts.do("GET", fmt.Sprintf("/v1/kv/rnd/%s?revision=%d", k, r), nil))
			e, err := kv.GetRevision(ctx, k, r)
			viaNATS = natsEntry(e, err)
		case 7:
			op = "history " + k
			viaHTTP = httpHistory(t, ts.do("GET", "/v1/kv/rnd/"+k+"?history", nil))
			hist, err := kv.History(ctx, k)
			var parts []string
			for _, e := range hist {
				parts = append(parts, fmt.Sprintf("%d %s %q", e.Revision(), opName(e.Operation()), e.Value()))
			}
			viaNATS = strings.Join(parts, "; ")
			if err != nil {
				viaNATS = natsRev(0, err)
			}
		}
		if os.Getenv("CAIRN_COMPAT_DUMP") != "" {
			t.Logf("%s: %s", op, viaHTTP)
		}
		if viaHTTP != viaNATS {
			t.Fatalf("seed %d step %d, %s:\n  HTTP (cairn):        %s\n  nats.go (nats-server): %s", seed, step, op, viaHTTP, viaNATS)
		}
	}
	// And the keys at the end.
	var listed struct {
		Keys []string `json:"keys"`
	}
	r := ts.do("GET", "/v1/kv/rnd", nil)
	if err := json.Unmarshal(r.body, &listed); err != nil {
		t.Fatalf("keys: %d %s", r.status, r.body)
	}
	natsKeys, err := kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Fatal(err)
	}
	slices.Sort(listed.Keys)
	slices.Sort(natsKeys)
	if !slices.Equal(listed.Keys, natsKeys) && !(len(listed.Keys) == 0 && len(natsKeys) == 0) {
		t.Fatalf("keys: HTTP %v, nats.go %v", listed.Keys, natsKeys)
	}
}

// outcome names a failure the way both APIs can express it.
func outcome(status int) string {
	switch status {
	case 404:
		return "not found"
	case 412:
		return "revision mismatch"
	case 409:
		return "exists"
	case 413:
		return "too large"
	case 400:
		return "invalid"
	}
	return fmt.Sprintf("status %d", status)
}

func natsOutcome(err error) string {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return "not found"
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch): // an update's (it is also ErrKeyExists)
		return "revision mismatch"
	case errors.Is(err, jetstream.ErrKeyExists): // a create's
		return "exists"
	case errors.As(err, &apiErr) && apiErr.ErrorCode == 10054:
		return "too large"
	case errors.Is(err, jetstream.ErrInvalidKey):
		return "invalid"
	}
	return "error " + err.Error()
}

func httpRev(t *testing.T, r response) string {
	t.Helper()
	if r.status >= 300 {
		return outcome(r.status)
	}
	var body struct {
		Revision uint64 `json:"revision"`
	}
	if len(r.body) > 0 {
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("body %q: %v", r.body, err)
		}
	}
	return fmt.Sprintf("ok %d", body.Revision)
}

func natsRev(rev uint64, err error) string {
	if err != nil {
		return natsOutcome(err)
	}
	return fmt.Sprintf("ok %d", rev)
}

func httpEntry(t *testing.T, r response) string {
	t.Helper()
	if r.status >= 300 {
		return outcome(r.status)
	}
	return fmt.Sprintf("%s %s %q", r.header.Get("X-Cairn-Revision"), strings.ToLower(r.header.Get("X-Cairn-Operation")), r.body)
}

func natsEntry(e jetstream.KeyValueEntry, err error) string {
	if err != nil {
		return natsOutcome(err)
	}
	return fmt.Sprintf("%d %s %q", e.Revision(), opName(e.Operation()), e.Value())
}

func opName(op jetstream.KeyValueOp) string {
	switch op {
	case jetstream.KeyValuePut:
		return "put"
	case jetstream.KeyValueDelete:
		return "del"
	case jetstream.KeyValuePurge:
		return "purge"
	}
	return op.String()
}

func httpHistory(t *testing.T, r response) string {
	t.Helper()
	if r.status >= 300 {
		return outcome(r.status)
	}
	var hist []struct {
		Revision  uint64 `json:"revision"`
		Operation string `json:"operation"`
		Value     string `json:"value"`
	}
	if err := json.Unmarshal(r.body, &hist); err != nil {
		t.Fatalf("history %q: %v", r.body, err)
	}
	var parts []string
	for _, h := range hist {
		v, err := base64.StdEncoding.DecodeString(h.Value)
		if err != nil {
			t.Fatalf("history value %q: %v", h.Value, err)
		}
		parts = append(parts, fmt.Sprintf("%d %s %q", h.Revision, strings.ToLower(h.Operation), v))
	}
	return strings.Join(parts, "; ")
}
