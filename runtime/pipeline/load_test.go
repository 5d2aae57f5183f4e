package pipeline

import (
	"errors"
	"strings"
	"testing"
)

// manifest wraps a pipeline (YAML indented under spec.pipeline) in a job.
func manifest(pipeline string) string {
	return "apiVersion: tributary.dev/v1alpha1\nkind: StreamingJob\nmetadata:\n  name: t\nspec:\n  batchInterval: 1s\n  pipeline:\n" + indent(pipeline, "    ")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

const wordCount = `sources:
  - name: lines
    socket: {host: feed.default.svc, port: 9999}
streams:
  - name: words
    from: lines
    flatMap: "record.split(' ')"
  - name: counts
    from: words
    countByValueAndWindow: {window: 30s, slide: 10s}
outputs:
  - from: counts
    files: {path: /tmp/wordcount-out}
  - from: counts
    print: {}
`

func TestTheIssueExampleIsValid(t *testing.T) {
	job, err := Parse([]byte(manifest(wordCount)))
	if err != nil {
		t.Fatal(err)
	}
	if r := job.Object.Spec.Executors.Replicas; r == nil || *r != 2 {
		t.Errorf("the CRD default for executors.replicas was not applied: %v", r)
	}
}

func TestBadManifestsAreRejectedWithFieldPaths(t *testing.T) {
	cases := []struct {
		name     string
		manifest string
		want     []string // every one must appear in the error
	}{
		{"malformed YAML", "apiVersion: [", []string{"malformed YAML"}},
		{"two documents", manifest(wordCount) + "---\nkind: Other\n", []string{"more than one YAML document"}},
		{"wrong kind", strings.Replace(manifest(wordCount), "kind: StreamingJob", "kind: SparkApplication", 1), []string{`kind: is "SparkApplication"`}},
		{"unknown field", strings.Replace(manifest(wordCount), "flatMap:", "flatmap:", 1), []string{`unknown field "spec.pipeline.streams[0].flatmap"`}},
		{"undeclared CEL reference", strings.Replace(manifest(wordCount), "record.split", "recrod.split", 1),
			[]string{"spec.pipeline.streams[0].flatMap: undeclared reference to 'recrod'"}},
		{"CEL parse error", strings.Replace(manifest(wordCount), `"record.split(' ')"`, `"record.split("`, 1),
			[]string{"spec.pipeline.streams[0].flatMap: Syntax error"}},
		{"CEL wrong type", strings.Replace(manifest(wordCount), `flatMap: "record.split(' ')"`, `flatMap: "record.size() > 3"`, 1),
			[]string{"spec.pipeline.streams[0].flatMap: expression returns bool, this step needs list(dyn)"}},
		{"variable the step does not bind", strings.Replace(manifest(wordCount), "record.split(' ')", "key.split(' ')", 1),
			[]string{"spec.pipeline.streams[0].flatMap: key is not available here"}},
		{"window not a multiple", strings.Replace(manifest(wordCount), "slide: 10s", "slide: 1500ms", 1),
			[]string{"countByValueAndWindow: window and slide must be multiples of batchInterval", "spec.pipeline.streams[1].countByValueAndWindow.slide: 1.5s is not a positive multiple of 1s"}},
		{"duplicate stream name", strings.Replace(manifest(wordCount), "name: counts", "name: words", 1), []string{"spec.pipeline.streams[1]: Duplicate value"}},
		{"source and stream share a name", strings.Replace(manifest(wordCount), "name: words", "name: lines", 1), []string{"source and stream names must be unique"}},
		{"unknown stream", strings.Replace(manifest(wordCount), "from: words", "from: wrods", 1), []string{`spec.pipeline.streams[1].from: unknown stream "wrods"`}},
		{"unknown output stream", manifest(strings.Replace(wordCount, "- from: counts\n    print", "- from: totals\n    print", 1)), []string{`spec.pipeline.outputs[1].from: unknown stream "totals"`}},
		{"two operators in one step", strings.Replace(manifest(wordCount), `flatMap: "record.split(' ')"`, `flatMap: "record.split(' ')"`+"\n        filter: \"true\"", 1),
			[]string{"each stream applies exactly one operator"}},
		{"no source kind", strings.Replace(manifest(wordCount), "socket: {host: feed.default.svc, port: 9999}", "kafka: {topic: x}", 1),
			[]string{`unknown field "spec.pipeline.sources[0].kafka"`}},
		{"missing name", strings.Replace(manifest(wordCount), "  - name: counts\n", "  - partitions: 1\n", 1), []string{"spec.pipeline.streams[1].name: Required value"}},
		{"keyed operator on plain stream", manifest(`sources:
  - name: lines
    socket: {host: h, port: 1}
streams:
  - name: totals
    from: lines
    reduceByKey: {function: sum}
outputs:
  - from: totals
    print: {}
`), []string{`spec.pipeline.streams[0].reduceByKey: needs a keyed stream, and "lines" is not keyed`}},
		{"cycle", manifest(`sources:
  - name: lines
    socket: {host: h, port: 1}
streams:
  - name: a
    from: b
    filter: "true"
  - name: b
    from: a
    filter: "true"
outputs:
  - from: a
    print: {}
`), []string{"cycle: a -> b -> a"}},
		{"S3 output without a bucket", strings.Replace(manifest(wordCount), "/tmp/wordcount-out", "s3:///out", 1),
			[]string{"spec.pipeline.outputs[0].files.path", "want s3://bucket/prefix"}},
		{"constant expression that fails", strings.Replace(manifest(wordCount), `"record.split(' ')"`, `"[1/0]"`, 1),
			[]string{"spec.pipeline.streams[0].flatMap: evaluating a constant expression: division by zero"}},
		{"unknown reducer", strings.Replace(manifest(wordCount), "countByValueAndWindow: {window: 30s, slide: 10s}", "reduce: {function: median}", 1),
			[]string{`spec.pipeline.streams[1].reduce.function: Unsupported value: "median"`, `supported values: "sum", "min", "max"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.manifest))
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("want an ErrorList, got %v", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestAllErrorsAreReportedAtOnce(t *testing.T) {
	m := strings.Replace(manifest(wordCount), "record.split", "recrod.split", 1)
	m = strings.Replace(m, "from: words", "from: wrods", 1)
	_, err := Parse([]byte(m))
	if err == nil || !strings.Contains(err.Error(), "recrod") || !strings.Contains(err.Error(), "wrods") {
		t.Fatalf("want both errors, got %v", err)
	}
}

// FuzzParse feeds arbitrary manifests to the loader: it must return a
// job or an error, never panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(manifest(wordCount)))
	f.Add([]byte(manifest(sessionPipeline)))
	f.Add([]byte("apiVersion: tributary.dev/v1alpha1\nkind: StreamingJob\nspec: {pipeline: {sources: [{name: a}]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		job, err := Parse(data)
		if err == nil && job == nil {
			t.Fatal("no job and no error")
		}
	})
}
