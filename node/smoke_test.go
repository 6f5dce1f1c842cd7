package node

import "testing"

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	b := mustBucket(t, n, BucketConfig{Name: "smoke", History: 3})
	ctx := testCtx(t)
	r1, err := b.Put(ctx, "a.b", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Put(ctx, "a.b", []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := b.Get(ctx, "a.b", ReadOptions{})
	if err != nil || string(e.Value) != "two" || e.Revision != r2 || r2 != r1+1 {
		t.Fatalf("get: %+v %v", e, err)
	}
	n.Close()
	n2 := startNode(t, dir)
	b2, err := n2.Bucket("smoke")
	if err != nil {
		t.Fatal(err)
	}
	e, err = b2.Get(ctx, "a.b", ReadOptions{})
	if err != nil || string(e.Value) != "two" {
		t.Fatalf("after restart: %+v %v", e, err)
	}
	h, err := b2.History(ctx, "a.b", ReadOptions{})
	if err != nil || len(h) != 2 {
		t.Fatalf("history %v %v", h, err)
	}
}
