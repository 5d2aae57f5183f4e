package runtime

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
	"github.com/tributary-dev/tributary/runtime/checkpoint/miniotest"
)

// An object-prefix source reads each new object in the batch that first
// lists it, skipping objects in progress and names the pattern excludes. A
// recovered driver recomputes the committed batches from the objects the
// metadata checkpoint assigned to them, not from a new listing: an object
// that appeared while no driver ran belongs to the next batch only.
func TestObjectPrefixAssignmentsSurviveARecovery(t *testing.T) {
	server := miniotest.Start(t)
	server.MakeBucket(t, "input")
	connect := func(prefix string) checkpoint.Store {
		s, err := checkpoint.NewS3(checkpoint.S3Config{Endpoint: server.Addr, Bucket: "input", Prefix: prefix, Insecure: true,
			Credentials: checkpoint.Credentials{AccessKeyID: miniotest.User, SecretAccessKey: miniotest.Password}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	lines := connect("lines")
	open := Func("test.openLines", func() (checkpoint.Store, error) { return connect("lines"), nil })
	put := func(key, content string) {
		t.Helper()
		if err := lines.Put(context.Background(), key, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	ckpt, _ := checkpoint.NewDir(t.TempDir())
	clock := NewManualClock(time.UnixMilli(0))
	got := newCommittedOutputs()
	build := func() *Context {
		c := checkpointedContext(t, clock, ckpt, nil)
		c.cfg.Checkpoint.Interval = 100 * testInterval // no data checkpoint: recovery recomputes from the plans
		words := FlatMap(TextObjectStream(c, open, FileStreamOptions{Pattern: "*.txt"}), splitWords)
		sinkInto(words.Named("words"), got)
		sinkInto(UpdateStateByKey(Map(words, pairOne), sumState, 2).Named("totals"), got)
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c
	}

	first := build()
	put("a.txt", "apple banana")
	put("_incoming/b.txt", "in progress")
	put(".c.txt", "hidden")
	put("d.csv", "not matched")
	commitNext(t, first, clock) // 1000: a.txt
	put("e.txt", "banana cherry")
	put("nested/f.txt", "cherry")
	commitNext(t, first, clock) // 2000: e.txt, nested/f.txt
	_ = first.Stop(false)

	put("g.txt", "date")
	second := build()
	if s, _ := second.Checkpoints(); s.RecoveredFrom == "" {
		t.Fatalf("the second driver did not recover: %+v", s)
	}
	commitNext(t, second, clock) // 3000: g.txt
	_ = second.Stop(false)

	want := map[string][]string{
		"words@1000":  {"apple", "banana"},
		"words@2000":  {"banana", "cherry", "cherry"},
		"words@3000":  {"date"},
		"totals@1000": {"(apple,1)", "(banana,1)"},
		"totals@2000": {"(apple,1)", "(banana,2)", "(cherry,2)"},
		"totals@3000": {"(apple,1)", "(banana,2)", "(cherry,2)", "(date,1)"},
	}
	if snap := got.snapshot(); !reflect.DeepEqual(snap, want) {
		t.Fatalf("committed:\n%s", diffOutputs(snap, want))
	}
}
