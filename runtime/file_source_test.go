package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// writeAtomically creates a file the way producers should: elsewhere, then
// renamed into the watched directory.
func writeAtomically(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "_"+name+".writing")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func TestTextFileStreamReadsNewFilesEachBatch(t *testing.T) {
	dir := t.TempDir()
	writeAtomically(t, dir, "old.txt", "old line\n")
	h := newHarness(t, Config{})
	col := collect_(TextFileStream(h.c, dir, FileStreamOptions{}))
	h.start()

	writeAtomically(t, dir, "a.txt", "a1\na2\n")
	writeAtomically(t, dir, "b.txt", "b1\n")
	if err := os.WriteFile(filepath.Join(dir, ".hidden"), []byte("no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.step(1)
	h.step(1)
	writeAtomically(t, dir, "c.txt", "c1")
	h.step(1)

	if got := col.at(batchTime(1)); !reflect.DeepEqual(got, []string{"a1", "a2", "b1"}) {
		t.Errorf("batch 1: %q (files present at start and hidden files are not read)", got)
	}
	if got := col.at(batchTime(2)); got != nil {
		t.Errorf("batch 2 should be empty, got %q", got)
	}
	if got := col.at(batchTime(3)); !reflect.DeepEqual(got, []string{"c1"}) {
		t.Errorf("batch 3: %q", got)
	}
}

func TestTextFileStreamOnceIsABatchJob(t *testing.T) {
	dir := t.TempDir()
	writeAtomically(t, dir, "1.txt", "x\ny\n")
	writeAtomically(t, dir, "2.txt", "z\n")
	c, err := NewContext(Config{BatchInterval: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	counts := collect_(TextFileStream(c, dir, FileStreamOptions{Once: true}).Count())
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
	if len(counts.times) != 1 || counts.at(counts.times[0])[0] != 3 {
		t.Fatalf("want one batch of 3 lines, got %v", counts.batches)
	}
}

func TestTextFileStreamMissingDirectoryFailsStart(t *testing.T) {
	h := newHarness(t, Config{})
	TextFileStream(h.c, filepath.Join(t.TempDir(), "missing"), FileStreamOptions{}).Named("logs").Print()
	err := h.c.Start(t.Context())
	if err == nil || !containsAll(err.Error(), "logs", "missing") {
		t.Fatalf("Start: %v", err)
	}
}

func TestQueueFilesStreamIsOneBatchPerFile(t *testing.T) {
	dir := t.TempDir()
	writeAtomically(t, dir, "1", "a\nb\n")
	writeAtomically(t, dir, "2", "c\n")
	got := runOnSource(t, func(c *Context) Stream[string] {
		return QueueFilesStream(c, filepath.Join(dir, "1"), filepath.Join(dir, "2"))
	}, 2)
	if !reflect.DeepEqual(got, [][]string{{"a", "b"}, {"c"}}) {
		t.Fatalf("got %q", got)
	}
}
