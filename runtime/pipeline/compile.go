package pipeline

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

type (
	pair       = runtime.Pair[any, any]
	anyStream  = runtime.Stream[any]
	pairStream = runtime.Stream[pair]
)

// step is one compiled source, stream or output: what it reads, what it
// yields, and how to add it to a graph.
type step struct {
	name  string
	path  string
	keyed bool
	slide time.Duration
	build func(g *graph) error
}

// built is a stream in a graph under construction: plain or keyed.
type built struct {
	plain anyStream
	keyed pairStream
}

type graph struct {
	ctx     *runtime.Context
	reg     *runtime.Registry
	streams map[string]built
}

// fn registers a step's function in the job's registry under
// "<stream>.<role>", so that the graph can be described and rebuilt.
func fn[F any](g *graph, stream, role string, f F) runtime.Fn[F] {
	return runtime.RegisterFunc(g.reg, stream+"."+role, f)
}

type compiler struct {
	job   *v1alpha1.StreamingJob
	errs  ErrorList
	steps map[string]*step
	order []*step
}

// compile checks the pipeline as a graph and compiles every expression.
func compile(job *v1alpha1.StreamingJob) (*Job, error) {
	c := &compiler{job: job, steps: map[string]*step{}}
	p := &job.Spec.Pipeline
	interval := job.Spec.BatchInterval.Duration
	c.checkpointSection(interval)
	for i := range p.Sources {
		if s := c.source(i, &p.Sources[i], interval); s != nil {
			c.steps[s.name] = s
			c.order = append(c.order, s)
		}
	}
	// Streams may be listed in any order; compile them parents first and
	// report references to unknown streams and cycles.
	index := map[string]int{}
	for i, s := range p.Streams {
		index[s.Name] = i
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(i int, trail []string)
	visit = func(i int, trail []string) {
		s := &p.Streams[i]
		switch state[s.Name] {
		case 1:
			c.errs.add(fmt.Sprintf("spec.pipeline.streams[%d].from", i), "cycle: %s", strings.Join(append(trail, s.Name), " -> "))
			return
		case 2:
			return
		}
		state[s.Name] = 1
		for _, ref := range streamRefs(i, s) {
			if j, ok := index[ref.name]; ok {
				visit(j, append(trail, s.Name))
			} else if _, isSource := c.steps[ref.name]; !isSource {
				c.errs.add(ref.field, "unknown stream %q", ref.name)
			}
		}
		state[s.Name] = 2
		if !c.parentsReady(i, s) {
			return
		}
		if st := c.stream(i, s); st != nil {
			c.steps[st.name] = st
			c.order = append(c.order, st)
		}
	}
	for i := range p.Streams {
		visit(i, nil)
	}
	var outs []*step
	for i := range p.Outputs {
		if o := c.output(i, &p.Outputs[i]); o != nil {
			outs = append(outs, o)
		}
	}
	if err := c.errs.orNil(); err != nil {
		return nil, err
	}
	return &Job{Object: job, steps: c.order, outs: outs}, nil
}

type streamRef struct{ name, field string }

func streamRefs(i int, s *v1alpha1.Stream) []streamRef {
	path := fmt.Sprintf("spec.pipeline.streams[%d]", i)
	refs := []streamRef{{s.From, path + ".from"}}
	if s.Union != nil {
		for j, w := range s.Union.With {
			refs = append(refs, streamRef{w, fmt.Sprintf("%s.union.with[%d]", path, j)})
		}
	}
	if s.Join != nil {
		refs = append(refs, streamRef{s.Join.With, path + ".join.with"})
	}
	if s.Cogroup != nil {
		refs = append(refs, streamRef{s.Cogroup.With, path + ".cogroup.with"})
	}
	return refs
}

func (c *compiler) parentsReady(i int, s *v1alpha1.Stream) bool {
	for _, ref := range streamRefs(i, s) {
		if _, ok := c.steps[ref.name]; !ok {
			return false
		}
	}
	return true
}

func (c *compiler) expr(path, source string, vars []string, want *cel.Type) *expr {
	e, ferr := compileExpr(path, source, vars, want)
	if ferr != nil {
		c.errs = append(c.errs, *ferr)
	}
	return e
}

func recordVars(keyed bool) []string {
	if keyed {
		return []string{"record", "key", "value"}
	}
	return []string{"record"}
}

// bind binds a record's variables: a plain record is `record`; a pair is
// `key`, `value`, and `record` as {"key": ..., "value": ...}.
func bindPlain(r any) *vars { v := &vars{}; return v.set("record", r) }
func bindPair(p pair) *vars {
	v := &vars{}
	return v.set("key", p.Key).set("value", p.Value).set("record", map[string]any{"key": p.Key, "value": p.Value})
}

func (c *compiler) source(i int, src *v1alpha1.Source, interval time.Duration) *step {
	path := fmt.Sprintf("spec.pipeline.sources[%d]", i)
	st := &step{name: src.Name, path: path, slide: interval}
	switch {
	case src.Socket != nil:
		s := src.Socket
		st.build = func(g *graph) error {
			g.streams[src.Name] = built{plain: toAny(g, src.Name, runtime.SocketTextStream(g.ctx, s.Host, int(s.Port), runtime.SocketOptions{StopAtEOF: s.StopAtEOF, WriteAheadLog: s.WriteAheadLog}))}
			return nil
		}
	case src.Directory != nil && strings.HasPrefix(src.Directory.Path, "s3://"):
		d := src.Directory
		connect := c.objectStore(path+".directory.path", d.Path)
		st.build = func(g *graph) error {
			open := runtime.RegisterFunc(g.reg, fmt.Sprintf("sources[%d].store", i), connect)
			lines := runtime.TextObjectStream(g.ctx, open, runtime.FileStreamOptions{IncludeExisting: d.IncludeExisting, Once: d.Once, Pattern: d.Pattern})
			g.streams[src.Name] = built{plain: toAny(g, src.Name, lines)}
			return nil
		}
	case src.Directory != nil:
		d := src.Directory
		c.localPath(path+".directory.path", d.Path)
		st.build = func(g *graph) error {
			lines := runtime.TextFileStream(g.ctx, d.Path, runtime.FileStreamOptions{IncludeExisting: d.IncludeExisting, Once: d.Once, Pattern: d.Pattern})
			g.streams[src.Name] = built{plain: toAny(g, src.Name, lines)}
			return nil
		}
	case src.Files != nil:
		for j, f := range src.Files.Paths {
			if _, err := os.Stat(f); err != nil {
				c.errs.add(fmt.Sprintf("%s.files.paths[%d]", path, j), "%v", err)
			}
		}
		st.build = func(g *graph) error {
			g.streams[src.Name] = built{plain: toAny(g, src.Name, runtime.QueueFilesStream(g.ctx, src.Files.Paths...))}
			return nil
		}
	case src.Generator != nil:
		gen := src.Generator
		st.build = func(g *graph) error {
			lines := runtime.GeneratorStream(g.ctx, runtime.GeneratorOptions{RecordsPerSecond: gen.RecordsPerSecond,
				RecordSize: int(gen.RecordSize), Count: gen.Count, Seed: uint64(gen.Seed)})
			g.streams[src.Name] = built{plain: toAny(g, src.Name, lines)}
			return nil
		}
	default:
		c.errs.add(path, "unsupported source: set one of socket, directory, files, generator")
		return nil
	}
	return st
}

// toAny names a typed source stream and widens its records to any.
func toAny(g *graph, name string, s runtime.Stream[string]) anyStream {
	s = s.Named(name + ".text")
	return runtime.Map(s, fn(g, name, "widen", func(r string) any { return r })).Named(name)
}

func (c *compiler) output(i int, o *v1alpha1.Output) *step {
	path := fmt.Sprintf("spec.pipeline.outputs[%d]", i)
	parent, ok := c.steps[o.From]
	if !ok {
		if !c.isStream(o.From) {
			c.errs.add(path+".from", "unknown stream %q", o.From)
		}
		return nil
	}
	st := &step{name: o.From, path: path}
	switch {
	case o.Print != nil:
		n := int(o.Print.Records)
		if n == 0 {
			n = 10
		}
		st.build = func(g *graph) error {
			if in := g.streams[o.From]; parent.keyed {
				in.keyed.PrintN(n)
			} else {
				in.plain.PrintN(n)
			}
			return nil
		}
	case o.Files != nil && strings.HasPrefix(o.Files.Path, "s3://"):
		connect := c.objectStore(path+".files.path", o.Files.Path)
		st.build = func(g *graph) error {
			open := runtime.RegisterFunc(g.reg, fmt.Sprintf("outputs[%d].store", i), connect)
			if in := g.streams[o.From]; parent.keyed {
				in.keyed.SaveAsJSONObjects(open)
			} else {
				in.plain.SaveAsJSONObjects(open)
			}
			return nil
		}
	case o.Files != nil:
		c.localPath(path+".files.path", o.Files.Path)
		st.build = func(g *graph) error {
			if in := g.streams[o.From]; parent.keyed {
				in.keyed.SaveAsJSONFiles(o.Files.Path)
			} else {
				in.plain.SaveAsJSONFiles(o.Files.Path)
			}
			return nil
		}
	default:
		c.errs.add(path, "unsupported output: set one of print, files")
		return nil
	}
	return st
}

// objectStore checks an s3:// location and returns how to connect to it:
// with the endpoint, TLS settings and credentials of the checkpoints.
func (c *compiler) objectStore(field, location string) func() (checkpoint.Store, error) {
	if _, _, err := checkpoint.ParseS3Location(location); err != nil {
		c.errs.add(field, "%v", err)
	}
	spec := c.job.Spec.Checkpoint
	spec.Location = location
	name := c.job.Name
	return func() (checkpoint.Store, error) {
		creds, err := checkpoint.CredentialsFromEnv()
		if err != nil {
			return nil, err
		}
		return checkpoint.Open(spec, name, creds)
	}
}

// localPath rejects object-store URLs where only local paths work yet.
func (c *compiler) localPath(field, p string) {
	if strings.Contains(p, "://") {
		c.errs.add(field, "%q: only local paths are supported here", p)
	}
}

func (c *compiler) isStream(name string) bool {
	for _, s := range c.job.Spec.Pipeline.Streams {
		if s.Name == name {
			return true
		}
	}
	return false
}

// loadJSONLines reads a JSON-lines file into records.
func loadJSONLines(path string) ([]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var v any
		if err := utiljson.Unmarshal([]byte(line), &v); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// checkpointSection checks what the schema cannot: the interval against the
// batch interval, and an S3 location's form.
func (c *compiler) checkpointSection(batch time.Duration) {
	ck := c.job.Spec.Checkpoint
	if ck.Interval != nil {
		if d := ck.Interval.Duration; batch > 0 && (d <= 0 || d%batch != 0) {
			c.errs.add("spec.checkpoint.interval", "%s is not a positive multiple of batchInterval %s", d, batch)
		}
	}
	if strings.HasPrefix(ck.Location, "s3://") {
		if _, _, err := checkpoint.ParseS3Location(ck.Location); err != nil {
			c.errs.add("spec.checkpoint.location", "%v", err)
		}
	} else if strings.Contains(ck.Location, "://") {
		c.errs.add("spec.checkpoint.location", "%q: want s3://bucket/prefix or a local path", ck.Location)
	}
}
