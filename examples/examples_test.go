package examples_test

// Every example manifest is validated and run here, so that the examples in
// the README stay true.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/cli"
	"github.com/tributary-dev/tributary/runtime/pipeline"
)

// load reads an example as the CLI would from the repository root, with
// its files outputs redirected to a temporary directory.
func load(t *testing.T, name string) (*pipeline.Job, string) {
	t.Helper()
	t.Chdir("..")
	job, err := pipeline.Load(filepath.Join("examples", name))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for i, o := range job.Object.Spec.Pipeline.Outputs {
		if o.Files != nil {
			job.Object.Spec.Pipeline.Outputs[i].Files.Path = filepath.Join(out, fmt.Sprint(i))
		}
	}
	return job, out
}

// runToEnd runs a bounded example on the real clock until it stops.
func runToEnd(t *testing.T, job *pipeline.Job, stdout io.Writer) {
	t.Helper()
	ctx, err := job.Build(pipeline.Options{Stdout: stdout, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctx.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctx.AwaitTermination() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		_ = ctx.Stop(false)
		t.Fatal("the example did not end by itself")
	}
}

// jsonLines returns every line written under dir, sorted.
func jsonLines(t *testing.T, dir string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return lines
}

func TestEveryExampleValidates(t *testing.T) {
	t.Chdir("..")
	files, _ := filepath.Glob("examples/*.yaml")
	if len(files) < 6 {
		t.Fatalf("found %d examples", len(files))
	}
	for _, f := range files {
		var stdout, stderr bytes.Buffer
		if code := cli.Main(context.Background(), []string{"validate", f}, &stdout, &stderr); code != 0 {
			t.Errorf("%s: exit %d: %s", f, code, stderr.String())
		}
	}
}

// The README's first command.
func TestQuickstartRunsThroughTheCLI(t *testing.T) {
	example, err := filepath.Abs("quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // where its checkpoints go
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), []string{"run", example}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"BATCH", "RECORDS", "TOTAL DELAY", "Time: ", "3 batches, 30000 records"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSocketWordCountExample(t *testing.T) {
	job, _ := load(t, "socket-wordcount.yaml")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprint(conn, "to be or not to be\nthat is the question\n")
		conn.Close()
	}()
	src := job.Object.Spec.Pipeline.Sources[0].Socket
	src.Host, src.Port, src.StopAtEOF = "127.0.0.1", int32(ln.Addr().(*net.TCPAddr).Port), true
	var stdout bytes.Buffer
	runToEnd(t, job, &stdout)
	for _, want := range []string{"(to,2)", "(be,2)", "(question,1)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, stdout.String())
		}
	}
}

func TestWindowedWordCountExample(t *testing.T) {
	job, _ := load(t, "windowed-wordcount.yaml")
	var stdout bytes.Buffer
	runToEnd(t, job, &stdout)
	if n := strings.Count(stdout.String(), "Time: "); n < 8 {
		t.Fatalf("%d windows printed, want one every 200 ms for 2 s:\n%s", n, stdout.String())
	}
}

func TestSessionsExample(t *testing.T) {
	job, out := load(t, "sessions.yaml")
	runToEnd(t, job, io.Discard)
	got := jsonLines(t, out)
	want := []string{`{"clicks":1,"user":"bob"}`, `{"clicks":4,"user":"eve"}`, `{"clicks":5,"user":"ann"}`}
	if !slices.Equal(got, want) {
		t.Fatalf("sessions %q, want %q", got, want)
	}
}

func TestStaticJoinExample(t *testing.T) {
	job, out := load(t, "static-join.yaml")
	runToEnd(t, job, io.Discard)
	got := jsonLines(t, out)
	want := []string{`{"key":"NO","value":2}`, `{"key":"NO","value":3}`, `{"key":"SE","value":1}`, `{"key":"unknown","value":4}`}
	if !slices.Equal(got, want) {
		t.Fatalf("clicks by country %q, want %q", got, want)
	}
}

func TestDirectoryToFilesExample(t *testing.T) {
	job, out := load(t, "directory-to-files.yaml")
	runToEnd(t, job, io.Discard)
	got := jsonLines(t, out)
	want := []string{`{"key":"ERROR","value":1}`, `{"key":"INFO","value":3}`, `{"key":"WARN","value":1}`}
	if !slices.Equal(got, want) {
		t.Fatalf("levels %q, want %q", got, want)
	}
	batches, _ := os.ReadDir(filepath.Join(out, "0"))
	if len(batches) != 1 {
		t.Fatalf("want one batch directory, got %d", len(batches))
	}
}
