package pipeline

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/runtime"
)

// stream compiles one step. Each case checks what its operator needs of its
// input (keyed or not, slides), compiles its expressions, and returns the
// build closure that adds the operator to a graph.
func (c *compiler) stream(i int, s *v1alpha1.Stream) *step {
	path := fmt.Sprintf("spec.pipeline.streams[%d]", i)
	in := c.steps[s.From]
	st := &step{name: s.Name, path: path, keyed: in.keyed, slide: in.slide}
	name, parts := s.Name, int(s.Partitions)
	needKeyed := func(field string) bool {
		if !in.keyed {
			c.errs.add(path+"."+field, "needs a keyed stream, and %q is not keyed; make one with keyBy", s.From)
			return false
		}
		return true
	}
	needPlain := func(field string) bool {
		if in.keyed {
			c.errs.add(path+"."+field, "needs a stream of plain records, and %q is keyed; use map to turn pairs into records", s.From)
			return false
		}
		return true
	}
	switch {
	case s.Map != nil:
		e := c.expr(path+".map", *s.Map, recordVars(in.keyed), nil)
		st.keyed = false
		st.build = func(g *graph) error {
			g.putPlain(name, mapRecords(g, name, "map", g.streams[s.From], in.keyed, func(v *vars) any { return e.eval(v) }))
			return nil
		}
	case s.FlatMap != nil:
		e := c.expr(path+".flatMap", *s.FlatMap, recordVars(in.keyed), cel.ListType(cel.DynType))
		st.keyed = false
		st.build = func(g *graph) error {
			p := g.streams[s.From]
			var out anyStream
			if in.keyed {
				out = runtime.FlatMap(p.keyed, fn(g, name, "flatMap", func(r pair) []any { return e.evalList(bindPair(r)) }))
			} else {
				out = runtime.FlatMap(p.plain, fn(g, name, "flatMap", func(r any) []any { return e.evalList(bindPlain(r)) }))
			}
			g.putPlain(name, out)
			return nil
		}
	case s.Filter != nil:
		e := c.expr(path+".filter", *s.Filter, recordVars(in.keyed), cel.BoolType)
		st.build = func(g *graph) error {
			p := g.streams[s.From]
			if in.keyed {
				g.putKeyed(name, p.keyed.Filter(fn(g, name, "filter", func(r pair) bool { return e.evalBool(bindPair(r)) })))
			} else {
				g.putPlain(name, p.plain.Filter(fn(g, name, "filter", func(r any) bool { return e.evalBool(bindPlain(r)) })))
			}
			return nil
		}
	case s.KeyBy != nil:
		key := c.expr(path+".keyBy.key", s.KeyBy.Key, recordVars(in.keyed), nil)
		var value *expr
		if s.KeyBy.Value != "" {
			value = c.expr(path+".keyBy.value", s.KeyBy.Value, recordVars(in.keyed), nil)
		}
		st.keyed = true
		st.build = func(g *graph) error {
			p := g.streams[s.From]
			toPair := func(v *vars, record any) pair {
				p := pair{Key: key.eval(v), Value: record}
				if value != nil {
					p.Value = value.eval(v)
				}
				return p
			}
			if in.keyed {
				g.putKeyed(name, runtime.Map(p.keyed, fn(g, name, "keyBy", func(r pair) pair {
					return toPair(bindPair(r), map[string]any{"key": r.Key, "value": r.Value})
				})))
			} else {
				g.putKeyed(name, runtime.Map(p.plain, fn(g, name, "keyBy", func(r any) pair { return toPair(bindPlain(r), r) })))
			}
			return nil
		}
	case s.MapValues != nil:
		e := c.expr(path+".mapValues", *s.MapValues, recordVars(true), nil)
		if needKeyed("mapValues") {
			st.build = func(g *graph) error {
				g.putKeyed(name, runtime.Map(g.streams[s.From].keyed, fn(g, name, "mapValues", func(r pair) pair {
					return pair{Key: r.Key, Value: e.eval(bindPair(r))}
				})))
				return nil
			}
		}
	case s.Split != nil:
		sep := s.Split.Separator
		if needPlain("split") {
			st.build = func(g *graph) error {
				g.putPlain(name, runtime.FlatMap(g.streams[s.From].plain, fn(g, name, "split", func(r any) []any {
					text, ok := r.(string)
					if !ok {
						runtime.Fail(fmt.Errorf("split needs text records, got %s", typeOf(r)))
					}
					var words []string
					if sep == "" {
						words = strings.Fields(text)
					} else {
						words = strings.Split(text, sep)
					}
					out := make([]any, len(words))
					for i, w := range words {
						out[i] = w
					}
					return out
				})))
				return nil
			}
		}
	case s.ParseJSON != nil:
		if needPlain("parseJSON") {
			st.build = func(g *graph) error {
				g.putPlain(name, runtime.Map(g.streams[s.From].plain, fn(g, name, "parseJSON", func(r any) any {
					text, ok := r.(string)
					if !ok {
						runtime.Fail(fmt.Errorf("parseJSON needs text records, got %s", typeOf(r)))
					}
					var v any
					if err := utiljson.Unmarshal([]byte(text), &v); err != nil {
						runtime.Fail(fmt.Errorf("not JSON: %w", err))
					}
					return v
				})))
				return nil
			}
		}
	case s.Repartition != nil:
		n := int(s.Repartition.Partitions)
		st.build = func(g *graph) error {
			p := g.streams[s.From]
			if in.keyed {
				g.putKeyed(name, p.keyed.Repartition(n))
			} else {
				g.putPlain(name, p.plain.Repartition(n))
			}
			return nil
		}
	case s.Union != nil:
		for j, w := range s.Union.With {
			other := c.steps[w]
			if other.keyed != in.keyed {
				c.errs.add(fmt.Sprintf("%s.union.with[%d]", path, j), "%q and %q differ: one is keyed, the other is not", w, s.From)
			}
			if other.slide != in.slide {
				c.errs.add(fmt.Sprintf("%s.union.with[%d]", path, j), "%q slides every %s and %q every %s", w, other.slide, s.From, in.slide)
			}
		}
		st.build = func(g *graph) error {
			p := g.streams[s.From]
			if in.keyed {
				var others []pairStream
				for _, w := range s.Union.With {
					others = append(others, g.streams[w].keyed)
				}
				g.putKeyed(name, p.keyed.Union(others...))
			} else {
				var others []anyStream
				for _, w := range s.Union.With {
					others = append(others, g.streams[w].plain)
				}
				g.putPlain(name, p.plain.Union(others...))
			}
			return nil
		}
	case s.Count != nil:
		st.keyed = false
		st.build = func(g *graph) error {
			p := g.streams[s.From]
			var counts runtime.Stream[int64]
			if in.keyed {
				counts = p.keyed.Count()
			} else {
				counts = p.plain.Count()
			}
			g.putPlain(name, widen(g, name, counts.Named(name+".count")))
			return nil
		}
	case s.Reduce != nil:
		r := c.reducer(path+".reduce", s.Reduce)
		if needPlain("reduce") {
			st.build = func(g *graph) error {
				g.putPlain(name, g.streams[s.From].plain.Reduce(fn(g, name, "reduce", r)))
				return nil
			}
		}
	case s.CountByValue != nil:
		st.keyed = true
		if needPlain("countByValue") {
			st.build = func(g *graph) error {
				counts := runtime.CountByValue(g.streams[s.From].plain, parts).Named(name + ".counts")
				g.putKeyed(name, widenValues(g, name, counts))
				return nil
			}
		}
	case s.ReduceByKey != nil:
		r := c.reducer(path+".reduceByKey", s.ReduceByKey)
		if needKeyed("reduceByKey") {
			st.build = func(g *graph) error {
				g.putKeyed(name, runtime.ReduceByKey(g.streams[s.From].keyed, fn(g, name, "reduce", r), parts))
				return nil
			}
		}
	case s.GroupByKey != nil:
		if needKeyed("groupByKey") {
			st.build = func(g *graph) error {
				groups := runtime.GroupByKey(g.streams[s.From].keyed, parts).Named(name + ".groups")
				g.putKeyed(name, runtime.Map(groups, fn(g, name, "values", func(p runtime.Pair[any, []any]) pair {
					return pair{Key: p.Key, Value: p.Value}
				})))
				return nil
			}
		}
	case s.Join != nil:
		c.twoKeyed(path+".join", s.From, s.Join.With, in)
		st.build = func(g *graph) error {
			g.putKeyed(name, join(g, name, g.streams[s.From].keyed, g.streams[s.Join.With].keyed, s.Join.Type, parts))
			return nil
		}
	case s.Cogroup != nil:
		c.twoKeyed(path+".cogroup", s.From, s.Cogroup.With, in)
		st.build = func(g *graph) error {
			groups := runtime.Cogroup(g.streams[s.From].keyed, g.streams[s.Cogroup.With].keyed, parts).Named(name + ".groups")
			g.putKeyed(name, runtime.Map(groups, fn(g, name, "cogroup", func(p runtime.Pair[any, runtime.Grouped[any, any]]) pair {
				return pair{Key: p.Key, Value: map[string]any{"left": orEmpty(p.Value.Left), "right": orEmpty(p.Value.Right)}}
			})))
			return nil
		}
	case s.JoinStatic != nil:
		st.build = c.joinStatic(path+".joinStatic", name, s, in, needKeyed)
	case s.Window != nil:
		length, slide := c.window(path+".window", s.Window, in)
		st.slide = slide
		st.build = func(g *graph) error {
			p := g.streams[s.From]
			if in.keyed {
				g.putKeyed(name, p.keyed.Window(length, slide))
			} else {
				g.putPlain(name, p.plain.Window(length, slide))
			}
			return nil
		}
	case s.CountByWindow != nil:
		length, slide := c.window(path+".countByWindow", s.CountByWindow, in)
		st.keyed, st.slide = false, slide
		st.build = func(g *graph) error {
			p := g.streams[s.From]
			var counts runtime.Stream[int64]
			if in.keyed {
				counts = p.keyed.CountByWindow(length, slide)
			} else {
				counts = p.plain.CountByWindow(length, slide)
			}
			g.putPlain(name, widen(g, name, counts.Named(name+".count")))
			return nil
		}
	case s.ReduceByWindow != nil:
		r := c.reducer(path+".reduceByWindow", &s.ReduceByWindow.Reducer)
		length, slide := c.window(path+".reduceByWindow.window", &s.ReduceByWindow.Window, in)
		st.slide = slide
		if needPlain("reduceByWindow") {
			st.build = func(g *graph) error {
				g.putPlain(name, g.streams[s.From].plain.ReduceByWindow(fn(g, name, "reduce", r), length, slide))
				return nil
			}
		}
	case s.CountByValueAndWindow != nil:
		length, slide := c.window(path+".countByValueAndWindow", s.CountByValueAndWindow, in)
		st.keyed, st.slide = true, slide
		if needPlain("countByValueAndWindow") {
			st.build = func(g *graph) error {
				counts := runtime.CountByValueAndWindow(g.streams[s.From].plain, length, slide, parts).Named(name + ".counts")
				g.putKeyed(name, widenValues(g, name, counts))
				return nil
			}
		}
	case s.ReduceByKeyAndWindow != nil:
		st.build, st.slide = c.reduceByKeyAndWindow(path+".reduceByKeyAndWindow", name, s, in, parts, needKeyed)
	case s.UpdateStateByKey != nil:
		e := c.expr(path+".updateStateByKey.update", s.UpdateStateByKey.Update, []string{"values", "state"}, nil)
		if needKeyed("updateStateByKey") {
			st.build = func(g *graph) error {
				g.putKeyed(name, updateStateByKey(g, name, g.streams[s.From].keyed, e, parts))
				return nil
			}
		}
	case s.MapWithState != nil:
		st.build, st.keyed = c.mapWithState(path+".mapWithState", name, s, in, parts, needKeyed)
	default:
		c.errs.add(path, "no operator: set exactly one")
		return nil
	}
	if st.build == nil {
		return nil
	}
	return st
}

// putPlain and putKeyed record a step's stream under the manifest's name.
func (g *graph) putPlain(name string, s anyStream)  { g.streams[name] = built{plain: s.Named(name)} }
func (g *graph) putKeyed(name string, s pairStream) { g.streams[name] = built{keyed: s.Named(name)} }

// mapRecords maps plain or keyed records to plain records.
func mapRecords(g *graph, name, role string, in built, keyed bool, f func(*vars) any) anyStream {
	if keyed {
		return runtime.Map(in.keyed, fn(g, name, role, func(r pair) any { return f(bindPair(r)) }))
	}
	return runtime.Map(in.plain, fn(g, name, role, func(r any) any { return f(bindPlain(r)) }))
}

func widen(g *graph, name string, s runtime.Stream[int64]) anyStream {
	return runtime.Map(s, fn(g, name, "widen", func(n int64) any { return n }))
}

func widenValues(g *graph, name string, s runtime.Stream[runtime.Pair[any, int64]]) pairStream {
	return runtime.Map(s, fn(g, name, "widen", func(p runtime.Pair[any, int64]) pair { return pair{Key: p.Key, Value: p.Value} }))
}

func orEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// reducer resolves a built-in or compiles a CEL reducer over a and b.
func (c *compiler) reducer(path string, r *v1alpha1.Reducer) func(a, b any) any {
	if r.Function != "" {
		// An unknown name is already reported by the schema's enum.
		return builtinReducers[r.Function]
	}
	e := c.expr(path+".expression", r.Expression, []string{"a", "b"}, nil)
	return func(a, b any) any {
		v := &vars{}
		return e.eval(v.set("a", a).set("b", b))
	}
}

// window checks a window against the slide of the stream it reads.
func (c *compiler) window(path string, w *v1alpha1.WindowSpec, in *step) (length, slide time.Duration) {
	length, slide = w.Window.Duration, in.slide
	if w.Slide != nil {
		slide = w.Slide.Duration
	}
	if length <= 0 || length%in.slide != 0 {
		c.errs.add(path+".window", "%s is not a positive multiple of %s, the slide of the stream it reads", length, in.slide)
	}
	if slide <= 0 || slide%in.slide != 0 {
		c.errs.add(path+".slide", "%s is not a positive multiple of %s, the slide of the stream it reads", slide, in.slide)
	}
	return length, slide
}

func (c *compiler) twoKeyed(path, left, right string, in *step) {
	other := c.steps[right]
	if !in.keyed {
		c.errs.add(path, "needs keyed streams, and %q is not keyed; make one with keyBy", left)
	}
	if !other.keyed {
		c.errs.add(path+".with", "needs keyed streams, and %q is not keyed; make one with keyBy", right)
	}
	if other.slide != in.slide {
		c.errs.add(path+".with", "%q slides every %s and %q every %s", right, other.slide, left, in.slide)
	}
}

func join(g *graph, name string, l, r pairStream, kind v1alpha1.JoinType, parts int) pairStream {
	joined := func(left, right any) any { return map[string]any{"left": left, "right": right} }
	opt := func(o runtime.Optional[any]) any { return o.OrElse(nil) }
	switch kind {
	case "leftOuter":
		j := runtime.LeftOuterJoin(l, r, parts).Named(name + ".join")
		return runtime.Map(j, fn(g, name, "join", func(p runtime.Pair[any, runtime.Joined[any, runtime.Optional[any]]]) pair {
			return pair{Key: p.Key, Value: joined(p.Value.Left, opt(p.Value.Right))}
		}))
	case "rightOuter":
		j := runtime.RightOuterJoin(l, r, parts).Named(name + ".join")
		return runtime.Map(j, fn(g, name, "join", func(p runtime.Pair[any, runtime.Joined[runtime.Optional[any], any]]) pair {
			return pair{Key: p.Key, Value: joined(opt(p.Value.Left), p.Value.Right)}
		}))
	case "fullOuter":
		j := runtime.FullOuterJoin(l, r, parts).Named(name + ".join")
		return runtime.Map(j, fn(g, name, "join", func(p runtime.Pair[any, runtime.Joined[runtime.Optional[any], runtime.Optional[any]]]) pair {
			return pair{Key: p.Key, Value: joined(opt(p.Value.Left), opt(p.Value.Right))}
		}))
	}
	j := runtime.Join(l, r, parts).Named(name + ".join")
	return runtime.Map(j, fn(g, name, "join", func(p runtime.Pair[any, runtime.Joined[any, any]]) pair {
		return pair{Key: p.Key, Value: joined(p.Value.Left, p.Value.Right)}
	}))
}

// joinStatic loads the dataset and keys it when the manifest is loaded, so
// that a missing file or a bad key is reported with the field path.
func (c *compiler) joinStatic(path, name string, s *v1alpha1.Stream, in *step, needKeyed func(string) bool) func(*graph) error {
	js := s.JoinStatic
	key := c.expr(path+".key", js.Key, []string{"record"}, nil)
	c.localPath(path+".path", js.Path)
	records, err := loadJSONLines(js.Path)
	if err != nil {
		c.errs.add(path+".path", "%v", err)
		return nil
	}
	if key == nil || !needKeyed("joinStatic") {
		return nil
	}
	table := map[any][]any{}
	for n, r := range records {
		k, err := evalStaticKey(key, r)
		if err != nil {
			c.errs.add(path+".key", "record %d of %s: %v", n+1, js.Path, err)
			return nil
		}
		table[k] = append(table[k], r)
	}
	leftOuter := js.Type == "leftOuter"
	return func(g *graph) error {
		g.putKeyed(name, runtime.FlatMap(g.streams[s.From].keyed, fn(g, name, "joinStatic", func(r pair) []pair {
			if !reflect.TypeOf(r.Key).Comparable() {
				runtime.Fail(fmt.Errorf("a %s cannot be a key", typeOf(r.Key)))
			}
			matches := table[r.Key]
			if len(matches) == 0 && leftOuter {
				return []pair{{Key: r.Key, Value: map[string]any{"left": r.Value, "right": nil}}}
			}
			out := make([]pair, len(matches))
			for i, m := range matches {
				out[i] = pair{Key: r.Key, Value: map[string]any{"left": r.Value, "right": m}}
			}
			return out
		})))
		return nil
	}
}

func evalStaticKey(key *expr, r any) (k any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	k = key.eval(bindPlain(r))
	if k != nil && !reflect.TypeOf(k).Comparable() {
		return nil, fmt.Errorf("the key is %s; keys must be strings, numbers or booleans", typeOf(k))
	}
	return k, nil
}

func (c *compiler) reduceByKeyAndWindow(path, name string, s *v1alpha1.Stream, in *step, parts int, needKeyed func(string) bool) (func(*graph) error, time.Duration) {
	spec := s.ReduceByKeyAndWindow
	r := c.reducer(path, &spec.Reducer)
	length, slide := c.window(path+".window", &spec.Window, in)
	var inverse func(a, b any) any
	switch {
	case spec.Inverse == nil:
	case spec.Inverse.Function == "subtract":
		inverse = dynSubtract
	default:
		e := c.expr(path+".inverse.expression", spec.Inverse.Expression, []string{"a", "b"}, nil)
		inverse = func(a, b any) any {
			v := &vars{}
			return e.eval(v.set("a", a).set("b", b))
		}
	}
	var keep *expr
	if spec.Keep != "" {
		if inverse == nil {
			c.errs.add(path+".keep", "keep needs an inverse: without one, every window is computed afresh")
		}
		keep = c.expr(path+".keep", spec.Keep, recordVars(true), cel.BoolType)
	}
	if !needKeyed("reduceByKeyAndWindow") {
		return nil, slide
	}
	return func(g *graph) error {
		p := g.streams[s.From].keyed
		if inverse == nil {
			g.putKeyed(name, runtime.ReduceByKeyAndWindow(p, fn(g, name, "reduce", r), length, slide, parts))
			return nil
		}
		var keepFn runtime.Fn[func(pair) bool]
		if keep != nil {
			keepFn = fn(g, name, "keep", func(kv pair) bool { return keep.evalBool(bindPair(kv)) })
		}
		g.putKeyed(name, runtime.ReduceByKeyAndWindowInv(p, fn(g, name, "reduce", r), fn(g, name, "inverse", inverse), keepFn, length, slide, parts))
		return nil
	}, slide
}

func updateStateByKey(g *graph, name string, in pairStream, e *expr, parts int) pairStream {
	return runtime.UpdateStateByKey(in, fn(g, name, "update", func(values []any, state runtime.Optional[any]) (any, bool) {
		v := &vars{}
		next := e.eval(v.set("values", orEmpty(values)).set("state", state.OrElse(nil)))
		return next, next != nil
	}), parts)
}

func (c *compiler) mapWithState(path, name string, s *v1alpha1.Stream, in *step, parts int, needKeyed func(string) bool) (func(*graph) error, bool) {
	spec := s.MapWithState
	stateVars := []string{"key", "value", "state", "timingOut"}
	update := c.expr(path+".update", spec.Update, stateVars, nil)
	var emit *expr
	if spec.Emit != "" {
		emit = c.expr(path+".emit", spec.Emit, append(stateVars, "newState"), nil)
	}
	var initial []pair
	if spec.InitialState != "" {
		records, err := loadJSONLines(spec.InitialState)
		if err != nil {
			c.errs.add(path+".initialState", "%v", err)
		}
		for n, r := range records {
			m, ok := r.(map[string]any)
			k, hasKey := m["key"]
			if !ok || !hasKey || (k != nil && !reflect.TypeOf(k).Comparable()) {
				c.errs.add(path+".initialState", "record %d of %s is not {\"key\": <string, number or bool>, \"value\": ...}", n+1, spec.InitialState)
				break
			}
			initial = append(initial, pair{Key: k, Value: m["value"]})
		}
	}
	var timeout time.Duration
	if spec.Timeout != nil {
		timeout = spec.Timeout.Duration
	}
	if !needKeyed("mapWithState") {
		return nil, false
	}
	keyedOut := emit == nil
	return func(g *graph) error {
		stateSpec := runtime.StateSpec[any, any, any, any]{
			Timeout:    timeout,
			Partitions: parts,
			Func: fn(g, name, "update", func(_ runtime.Time, key any, value runtime.Optional[any], state *runtime.State[any]) (any, bool) {
				v := &vars{}
				var current any
				if state.Exists() {
					current = state.Get()
				}
				v.set("key", key).set("value", value.OrElse(nil)).set("state", current).set("timingOut", state.IsTimingOut())
				next := update.eval(v)
				switch {
				case state.IsTimingOut():
				case next == nil:
					state.Remove()
				default:
					state.Update(next)
				}
				if emit == nil {
					return pair{Key: key, Value: next}, next != nil
				}
				w := &vars{}
				w.set("key", key).set("value", value.OrElse(nil)).set("state", current).
					set("timingOut", state.IsTimingOut()).set("newState", next)
				out := emit.eval(w)
				return out, out != nil
			}),
		}
		if initial != nil {
			stateSpec.Initial = fn(g, name, "initialState", func() ([]pair, error) { return initial, nil })
		}
		st := runtime.MapWithState(g.streams[s.From].keyed, stateSpec).Named(name + ".state")
		if keyedOut {
			g.putKeyed(name, runtime.Map(st.Stream, fn(g, name, "pairs", func(r any) pair { return r.(pair) })))
		} else {
			g.putPlain(name, runtime.Map(st.Stream, fn(g, name, "records", func(r any) any { return r })))
		}
		return nil
	}, keyedOut
}
