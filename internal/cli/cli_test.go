package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
