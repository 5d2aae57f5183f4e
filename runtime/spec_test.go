package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var countSessions = Func("test.countSessions", func(_ Time, key string, value Optional[int], state *State[int]) (Pair[string, int], bool) {
	n := state.Get() + value.OrElse(0)
	state.Update(n)
	return KV(key, n), true
})

// buildDescribedGraph builds a graph from registered functions only, so that
// it can be described and rebuilt.
func buildDescribedGraph(c *Context, files []string, out string) {
	words := FlatMap(QueueFilesStream(c, files...).Named("lines"), splitWords).Named("words")
	pairs := Map(words, pairOne).Named("pairs")
	ReduceByKeyAndWindow(pairs, sumInts, 2*testInterval, testInterval, 2).Named("windowed").SaveAsJSONFiles(filepath.Join(out, "windowed"))
	MapWithState(pairs, StateSpec[string, int, int, Pair[string, int]]{Func: countSessions, Timeout: 5 * time.Second}).
		Named("sessions").StateSnapshots().Named("state").SaveAsJSONFiles(filepath.Join(out, "state"))
	CountByValueAndWindow(words, 2*testInterval, testInterval, 0).Named("trending").SaveAsJSONFiles(filepath.Join(out, "trending"))
}

func runToEnd(t *testing.T, h *harness, n int) {
	t.Helper()
	h.start()
	h.step(n)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
}

func TestDescribeAndRebuildGiveTheSameGraph(t *testing.T) {
	in := t.TempDir()
	writeAtomically(t, in, "1", "a b a\nc\n")
	writeAtomically(t, in, "2", "b b\n")
	writeAtomically(t, in, "3", "a\n")
	files := []string{filepath.Join(in, "1"), filepath.Join(in, "2"), filepath.Join(in, "3")}
	outA, outB := t.TempDir(), t.TempDir()

	h := newHarness(t, Config{})
	buildDescribedGraph(h.c, files, outA)
	desc, err := json.Marshal(h.c.Describe())
	if err != nil {
		t.Fatal(err)
	}
	runToEnd(t, h, 3)

	// Ship the description, point its outputs elsewhere, rebuild it.
	var spec GraphSpec
	if err := json.Unmarshal(desc, &spec); err != nil {
		t.Fatal(err)
	}
	for i, n := range spec.Nodes {
		if n.Op == "jsonFiles" {
			spec.Nodes[i].Params["dir"] = strings.Replace(n.Params["dir"], outA, outB, 1)
		}
	}
	h2 := newHarness(t, Config{})
	if err := h2.c.Rebuild(spec); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if got := h2.c.Describe(); !reflect.DeepEqual(got, spec) {
		t.Fatalf("rebuilt graph describes itself differently:\n%+v\n%+v", got, spec)
	}
	runToEnd(t, h2, 3)

	for _, output := range []string{"windowed", "state", "trending"} {
		for _, batch := range []string{"1000", "2000", "3000"} {
			a := readBatchDir(t, filepath.Join(outA, output, batch))
			b := readBatchDir(t, filepath.Join(outB, output, batch))
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s batch %s differs after rebuild:\n%v\n%v", output, batch, a, b)
			}
		}
	}
	if a := readBatchDir(t, filepath.Join(outA, "state", "3000")); !strings.Contains(strings.Join(mapValues(a), ""), `{"key":"a","value":3}`) {
		t.Errorf("state after batch 3 lacks a=3: %v", a)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestRebuildReportsWhatIsMissing(t *testing.T) {
	cases := map[string]struct {
		mutate func(*GraphSpec)
		want   string
	}{
		"unregistered function": {func(g *GraphSpec) { g.Nodes[1].Funcs["f"] = "nobody.registered.this" }, `function "nobody.registered.this" is not registered`},
		"wrong function type":   {func(g *GraphSpec) { g.Nodes[1].Funcs["f"] = "test.upper" }, "not a func(string) []string"},
		"unknown operator":      {func(g *GraphSpec) { g.Nodes[1].Op = "teleport" }, "operator teleport"},
		"bad parameter": {func(g *GraphSpec) {
			for i := range g.Nodes {
				if g.Nodes[i].Op == "window" {
					g.Nodes[i].Params["window"] = "soon"
				}
			}
		}, `parameter window`},
		"dangling parent":      {func(g *GraphSpec) { g.Nodes[1].Parents = []int{99} }, "parent 99"},
		"other batch interval": {func(g *GraphSpec) { g.BatchInterval = time.Minute }, "batch interval"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, Config{})
			buildDescribedGraph(h.c, []string{"f"}, t.TempDir())
			spec := h.c.Describe()
			data, _ := json.Marshal(spec)
			var g GraphSpec
			_ = json.Unmarshal(data, &g)
			tc.mutate(&g)
			err := newHarness(t, Config{}).c.Rebuild(g)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestInMemoryQueueCannotBeRebuilt(t *testing.T) {
	h := newHarness(t, Config{})
	QueueStream(h.c, NewQueue[string]()).Named("q").Print()
	err := newHarness(t, Config{}).c.Rebuild(h.c.Describe())
	if err == nil || !strings.Contains(err.Error(), `stream "q"`) || !strings.Contains(err.Error(), "QueueFilesStream") {
		t.Fatalf("got %v", err)
	}
}

// FuzzRebuild feeds arbitrary descriptions to Rebuild: a malformed or
// hostile description is an error naming what is wrong, never a panic.
func FuzzRebuild(f *testing.F) {
	h := newHarnessForFuzz(f)
	buildDescribedGraph(h, []string{"f"}, os.TempDir())
	seed, _ := json.Marshal(h.Describe())
	f.Add(seed)
	f.Add([]byte(`{"batchInterval":1000000000,"nodes":[{"id":1,"op":"socket","type":"string","params":{"port":"x"}}]}`))
	f.Add([]byte(`{"batchInterval":1000000000,"nodes":[{"id":1,"op":"generator","type":"string","params":{}},{"id":2,"op":"join","type":"string","parents":[1,1]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var g GraphSpec
		if err := json.Unmarshal(data, &g); err != nil {
			return
		}
		c, err := NewContext(Config{BatchInterval: time.Second, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Rebuild(g)
	})
}

func newHarnessForFuzz(f *testing.F) *Context {
	c, err := NewContext(Config{BatchInterval: time.Second, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	return c
}
