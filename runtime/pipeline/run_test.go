package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime"
)

// runManifest parses and runs a bounded manifest on a manual clock for n
// batches and returns what its files outputs wrote, per output directory and
// batch, as sorted JSON lines.
func runManifest(t *testing.T, m string, n int) map[string][]string {
	t.Helper()
	job, ctx, clock := startManifest(t, m)
	clock.Advance(time.Duration(n) * time.Second)
	done := make(chan error, 1)
	go func() { done <- ctx.AwaitTermination() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the bounded run did not end")
	}
	out := map[string][]string{}
	for _, o := range job.Object.Spec.Pipeline.Outputs {
		if o.Files == nil {
			continue
		}
		batches, _ := os.ReadDir(o.Files.Path)
		for _, b := range batches {
			parts, _ := os.ReadDir(filepath.Join(o.Files.Path, b.Name()))
			var lines []string
			for _, p := range parts {
				data, _ := os.ReadFile(filepath.Join(o.Files.Path, b.Name(), p.Name()))
				for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
					if l != "" {
						lines = append(lines, l)
					}
				}
			}
			sort.Strings(lines)
			out[filepath.Base(o.Files.Path)+"/"+b.Name()] = lines
		}
	}
	return out
}

// startManifest parses, builds and starts a manifest on a manual clock.
func startManifest(t *testing.T, m string) (*Job, *runtime.Context, *runtime.ManualClock) {
	t.Helper()
	job, err := Parse([]byte(m))
	if err != nil {
		t.Fatal(err)
	}
	clock := runtime.NewManualClock(time.UnixMilli(0))
	ctx, err := job.Build(Options{Clock: clock, Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctx.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return job, ctx, clock
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestManifestWordCountRuns(t *testing.T) {
	dir := t.TempDir()
	b1 := writeFile(t, dir, "b1", "to be or not to be\n")
	b2 := writeFile(t, dir, "b2", "be quick\n")
	out := filepath.Join(dir, "counts")
	got := runManifest(t, manifest(`sources:
  - name: lines
    files: {paths: [`+b1+`, `+b2+`]}
streams:
  - name: words
    from: lines
    split: {}
  - name: pairs
    from: words
    keyBy: {key: "record", value: "1"}
  - name: counts
    from: pairs
    reduceByKey: {function: sum}
  - name: running
    from: counts
    updateStateByKey: {update: "(state == null ? 0 : state) + values.sum()"}
outputs:
  - from: running
    files: {path: `+out+`}
`), 2)
	want := map[string][]string{
		"counts/1000": {`{"key":"be","value":2}`, `{"key":"not","value":1}`, `{"key":"or","value":1}`, `{"key":"to","value":2}`},
		"counts/2000": {`{"key":"be","value":3}`, `{"key":"not","value":1}`, `{"key":"or","value":1}`, `{"key":"quick","value":1}`, `{"key":"to","value":2}`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

const sessionPipeline = `sources:
  - name: events
    socket: {host: h, port: 1}
streams:
  - name: parsed
    from: events
    parseJSON: {}
  - name: byUser
    from: parsed
    keyBy: {key: "record.user", value: "record.clicks"}
  - name: sessions
    from: byUser
    mapWithState:
      update: "timingOut ? state : (state == null ? 0 : state) + value"
      emit: "timingOut ? {'user': key, 'total': state, 'closed': true} : none"
      timeout: 2s
outputs:
  - from: sessions
    print: {}
`

func TestManifestSessionsJoinsAndWindows(t *testing.T) {
	dir := t.TempDir()
	b1 := writeFile(t, dir, "b1", `{"user":"ann","clicks":2}`+"\n"+`{"user":"bob","clicks":1}`+"\n")
	b2 := writeFile(t, dir, "b2", `{"user":"ann","clicks":3}`+"\n")
	b3 := writeFile(t, dir, "b3", "\n")
	b4 := writeFile(t, dir, "b4", "\n")
	b5 := writeFile(t, dir, "b5", "\n")
	users := writeFile(t, dir, "users.jsonl", `{"id":"ann","country":"NO"}`+"\n"+`{"id":"bob","country":"SE"}`+"\n")
	m := manifest(`sources:
  - name: events
    files: {paths: [` + strings.Join([]string{b1, b2, b3, b4, b5}, ", ") + `]}
streams:
  - name: parsed
    from: events
    filter: "record != ''"
  - name: json
    from: parsed
    parseJSON: {}
  - name: byUser
    from: json
    keyBy: {key: "record.user", value: "record.clicks"}
  - name: sessions
    from: byUser
    mapWithState:
      update: "timingOut ? state : (state == null ? 0 : state) + value"
      emit: "timingOut ? {'user': key, 'total': state} : none"
      timeout: 2s
  - name: withCountry
    from: byUser
    joinStatic: {path: ` + users + `, key: "record.id"}
  - name: country
    from: withCountry
    mapValues: "value.right.country"
  - name: clicks2s
    from: byUser
    reduceByKeyAndWindow: {function: sum, inverse: {function: subtract}, keep: "value != 0", window: {window: 2s}}
outputs:
  - from: sessions
    files: {path: ` + filepath.Join(dir, "sessions") + `}
  - from: country
    files: {path: ` + filepath.Join(dir, "country") + `}
  - from: clicks2s
    files: {path: ` + filepath.Join(dir, "clicks") + `}
`)
	got := runManifest(t, m, 5)
	check := func(key string, want ...string) {
		t.Helper()
		if !reflect.DeepEqual(got[key], want) && !(len(want) == 0 && len(got[key]) == 0) {
			t.Errorf("%s: got %q, want %q", key, got[key], want)
		}
	}
	// bob idles from batch 1: at batch 4 (1 < 4-2) his session closes;
	// ann's last record is at batch 2, so hers closes at batch 5.
	check("sessions/3000")
	check("sessions/4000", `{"total":1,"user":"bob"}`)
	check("sessions/5000", `{"total":5,"user":"ann"}`)
	check("country/1000", `{"key":"ann","value":"NO"}`, `{"key":"bob","value":"SE"}`)
	check("clicks/2000", `{"key":"ann","value":5}`, `{"key":"bob","value":1}`)
	check("clicks/3000", `{"key":"ann","value":3}`)
	check("clicks/4000")
}

func TestBadRecordFailsTheBatchNamingTheStream(t *testing.T) {
	dir := t.TempDir()
	b1 := writeFile(t, dir, "b1", "{\"ok\":1}\nnot json\n")
	_, ctx, clock := startManifest(t, manifest(`sources:
  - name: events
    files: {paths: [`+b1+`]}
streams:
  - name: json
    from: events
    parseJSON: {}
outputs:
  - from: json
    print: {}
`))
	clock.Advance(time.Second)
	err := ctx.AwaitTermination()
	if err == nil || !strings.Contains(err.Error(), `stream "json"`) || !strings.Contains(err.Error(), "1000 ms") || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("got %v", err)
	}
}
