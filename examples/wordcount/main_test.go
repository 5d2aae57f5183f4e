package main

import (
	"os"
	"testing"
	"time"
)

// The README's Go example runs to the end and writes its batches.
func TestWordCountExample(t *testing.T) {
	out := t.TempDir()
	if err := run(4000, 20000, 100*time.Millisecond, out); err != nil {
		t.Fatal(err)
	}
	batches, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) < 2 {
		t.Fatalf("%d batch directories, want one per batch", len(batches))
	}
}
