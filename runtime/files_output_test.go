package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func runWordCountToFiles(t *testing.T, dir string) {
	t.Helper()
	h := newHarness(t, Config{})
	q := NewQueue[string]()
	q.PushPartitions([]string{"a b"}, []string{"a c"})
	q.Push()
	q.Close()
	counts := ReduceByKey(Map(FlatMap(QueueStream(h.c, q), splitWords), pairOne), sumInts, 2)
	counts.SaveAsJSONFiles(dir)
	h.start()
	h.step(2)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
}

func readBatchDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

func TestSaveAsJSONFilesWritesOneDirectoryPerBatch(t *testing.T) {
	dir := t.TempDir()
	runWordCountToFiles(t, dir)
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"1000", "2000"}) {
		t.Fatalf("output directory holds %v, want one directory per batch and no temporary leftovers", names)
	}
	first := readBatchDir(t, filepath.Join(dir, "1000"))
	if len(first) != 2 {
		t.Fatalf("want one part file per partition, got %v", first)
	}
	var lines []string
	for _, name := range []string{"part-00000", "part-00001"} {
		for _, l := range strings.Split(strings.TrimSpace(first[name]), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	want := []string{`{"key":"a","value":2}`, `{"key":"b","value":1}`, `{"key":"c","value":1}`}
	if !reflect.DeepEqual(sortedStrings(lines), want) {
		t.Fatalf("JSON lines %q, want %q", lines, want)
	}
	if second := readBatchDir(t, filepath.Join(dir, "2000")); second["part-00000"] != "" || second["part-00001"] != "" {
		t.Fatalf("the empty batch has content: %v", second)
	}
}

// Recomputing a batch writes the same content in place.
func TestSaveAsJSONFilesRewritesTheSameContent(t *testing.T) {
	dir := t.TempDir()
	runWordCountToFiles(t, dir)
	before := readBatchDir(t, filepath.Join(dir, "1000"))
	runWordCountToFiles(t, dir)
	after := readBatchDir(t, filepath.Join(dir, "1000"))
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("rerun changed batch 1000:\n%v\n%v", before, after)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("rerun left extra entries: %v", entries)
	}
}

// unencodable cannot be written as JSON.
type unencodable struct{ C chan int }

var toUnencodable = Func("test.toUnencodable", func(s string) unencodable { return unencodable{} })

func TestSaveAsJSONFilesFailsOnUnencodableRecord(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, Config{})
	q := NewQueue([]string{"x"})
	q.Close()
	Map(QueueStream(h.c, q), toUnencodable).SaveAsJSONFiles(dir)
	h.start()
	h.clock.Advance(testInterval)
	err := h.c.AwaitTermination()
	if err == nil || !strings.Contains(err.Error(), "cannot be written as JSON") {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed batch left %v behind", entries)
	}
}
