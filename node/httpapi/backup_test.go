package httpapi

import (
	"bytes"
	"strings"
	"testing"
)

func TestBackupRestoreRoutes(t *testing.T) {
	src := startServer(t, Options{})
	src.mustBucket("orders", `{"history":5}`)
	for _, v := range []string{"1", "2", "3"} {
		if r := src.do("PUT", "/v1/kv/orders/a", v); r.status != 200 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	if r := src.do("DELETE", "/v1/kv/orders/a", nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	r := src.do("GET", "/v1/buckets/orders/backup", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("backup: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	file := r.body
	if e := src.do("GET", "/v1/buckets/nope/backup", nil); e.status != 404 {
		t.Fatalf("backup of a missing bucket: %d %s", e.status, e.body)
	}
	e := src.do("POST", "/v1/restore", file)
	if e.status != 409 || !strings.Contains(e.apiErr(t).Description, "already exists") {
		t.Fatalf("restore over the source: %d %s", e.status, e.body)
	}

	dst := startServer(t, Options{})
	bad := bytes.Clone(file)
	bad[len(bad)/3] ^= 0x20
	e = dst.do("POST", "/v1/restore", bad)
	if e.status != 400 || !strings.Contains(e.apiErr(t).Description, "invalid backup") {
		t.Fatalf("damaged restore: %d %s", e.status, e.body)
	}
	if g := dst.do("GET", "/v1/buckets/orders", nil); g.status != 404 {
		t.Fatalf("damaged restore created the bucket: %d", g.status)
	}
	r = dst.do("POST", "/v1/restore", bytes.NewReader(file)) // chunked
	if r.status != 200 {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	var out restoreJSON
	r.decode(t, &out)
	if out.Name != "orders" || out.State.LastRevision != 4 || out.State.Messages != 4 || out.Backup.Messages != 4 || len(out.Backup.SHA256) != 64 {
		t.Fatalf("restore answer %+v", out)
	}
	h1 := src.do("GET", "/v1/kv/orders/a?history=true", nil)
	h2 := dst.do("GET", "/v1/kv/orders/a?history=true", nil)
	if h1.status != h2.status || !bytes.Equal(h1.body, h2.body) {
		t.Fatalf("history differs:\n%d %s\n%d %s", h1.status, h1.body, h2.status, h2.body)
	}
	if again := dst.do("GET", "/v1/buckets/orders/backup", nil); !bytes.Equal(again.body, file) {
		t.Fatal("backup of the restored bucket differs")
	}
}
