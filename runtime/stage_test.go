package runtime

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// stageLogOf lists every logged stage of a context as "key kind tasks".
func stageLogOf(c *Context) []string {
	var out []string
	for _, n := range c.nodes {
		in := n.info()
		in.stageMu.Lock()
		for _, log := range in.stageLog {
			for _, st := range log {
				out = append(out, fmt.Sprintf("%s %s %d", st.key, st.kind, st.tasks))
			}
		}
		in.stageMu.Unlock()
	}
	sort.Strings(out)
	return out
}

// Executors will run tasks named by stage key on graphs of their own, so
// the same graph must create the same keys, however its batches are
// scheduled.
func TestStageKeysAreTheSameInEveryBuildOfAGraph(t *testing.T) {
	in := t.TempDir()
	var files []string
	for i, content := range []string{"a b a\n", "b c\n", "a\n", "c c b\n", "a d\n", "d\n"} {
		name := fmt.Sprint(i)
		writeAtomically(t, in, name, content)
		files = append(files, filepath.Join(in, name))
	}

	// Partition counts are part of the graph (executors must build with the
	// driver's parallelism); workers and pipelining are not.
	sequential := newHarness(t, Config{Workers: 1, Parallelism: 3, MaxConcurrentBatches: 1})
	buildDescribedGraph(sequential.c, files, t.TempDir())
	runToEnd(t, sequential, len(files))

	pipelined := newHarness(t, Config{Workers: 4, Parallelism: 3, MaxConcurrentBatches: 3})
	spec := sequential.c.Describe()
	out := t.TempDir()
	for i, n := range spec.Nodes {
		if n.Op == "jsonFiles" {
			spec.Nodes[i].Params = map[string]string{"dir": filepath.Join(out, fmt.Sprint(i))}
		}
	}
	if err := pipelined.c.Rebuild(spec); err != nil {
		t.Fatal(err)
	}
	pipelined.start()
	pipelined.clock.Advance(6 * testInterval) // all batches at once: they overlap
	if err := pipelined.c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}

	a, b := stageLogOf(sequential.c), stageLogOf(pipelined.c)
	if len(a) == 0 {
		t.Fatal("no stages were logged")
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the two builds created different stages:\n%v\n%v", a, b)
	}
}
