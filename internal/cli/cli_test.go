package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const typo = `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: typo}
spec:
  batchInterval: 1s
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: 10, count: 10}
    streams:
      - name: words
        from: lines
        flatMap: "recrod.split(' ')"
      - name: counts
        from: wrods
        countByValue: {}
    outputs:
      - from: counts
        print: {}
`

func TestValidateExitsTwoWithEveryError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(typo), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "validate", path)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{
		"spec.pipeline.streams[0].flatMap: undeclared reference to 'recrod'",
		`spec.pipeline.streams[1].from: unknown stream "wrods"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestRunRejectsAnInvalidManifestBeforeStarting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(typo), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := runCLI(t, "run", path); code != 2 || strings.Contains(stdout, "BATCH") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

func TestRunBoundedJobExitsZero(t *testing.T) {
	t.Chdir(t.TempDir())
	path := filepath.Join(t.TempDir(), "job.yaml")
	job := strings.NewReplacer(`"recrod.split(' ')"`, `"record.split(' ')"`, "from: wrods", "from: words", "batchInterval: 1s", "batchInterval: 100ms").Replace(typo)
	if err := os.WriteFile(path, []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "run", "--workers", "1", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "records") || !strings.Contains(stdout, "10 records") {
		t.Fatalf("stdout:\n%s", stdout)
	}
}

func TestMissingFileFailsWithExitOne(t *testing.T) {
	if code, _, stderr := runCLI(t, "validate", "/nonexistent/job.yaml"); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	if code, stdout, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(stdout, "tributary dev (go") {
		t.Fatalf("exit %d: %q", code, stdout)
	}
}

// Ctrl-C and SIGTERM cancel the run's context; the same path is taken when
// the caller's context ends. The batches already cut commit, and run exits 0.
func TestRunStopsGracefullyWhenInterrupted(t *testing.T) {
	t.Chdir(t.TempDir()) // the default checkpoint directory goes here
	path := filepath.Join(t.TempDir(), "job.yaml")
	unbounded := strings.NewReplacer(`"recrod.split(' ')"`, `"record.split(' ')"`, "from: wrods", "from: words",
		"batchInterval: 1s", "batchInterval: 50ms", "{recordsPerSecond: 10, count: 10}", "{recordsPerSecond: 1000}").Replace(typo)
	if err := os.WriteFile(path, []byte(unbounded), 0o644); err != nil {
		t.Fatal(err)
	}
	interrupted := func(args ...string) (string, string) {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- Main(ctx, append([]string{"run"}, args...), &stdout, &stderr) }()
		time.Sleep(400 * time.Millisecond)
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("run did not stop")
		}
		if !strings.Contains(stderr.String(), "stopping") || !strings.Contains(stdout.String(), " batches, ") {
			t.Fatalf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	if _, stderr := interrupted(path); strings.Contains(stderr, "resuming") {
		t.Fatalf("the first run resumed: %s", stderr)
	}
	if _, err := os.Stat("typo.checkpoint"); err != nil {
		t.Fatalf("no checkpoint directory where the manifest's default says: %v", err)
	}
	// The unfinished run resumes from its checkpoint, unless told not to.
	if _, stderr := interrupted(path); !strings.Contains(stderr, "resuming from checkpoint typo.checkpoint/metadata/") {
		t.Fatalf("the second run did not resume: %s", stderr)
	}
	if _, stderr := interrupted("--discard-checkpoints", path); strings.Contains(stderr, "resuming") {
		t.Fatalf("--discard-checkpoints resumed: %s", stderr)
	}
}
