package runtime

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"
)

// GraphSpec describes a stream graph as data: every stream's operator, its
// parents, the names of its registered functions and its parameters. A
// GraphSpec can be stored (checkpoints) or shipped to another process
// (executors) and turned back into the same graph with Rebuild.
type GraphSpec struct {
	BatchInterval time.Duration `json:"batchInterval"`
	Nodes         []NodeSpec    `json:"nodes"`
}

// NodeSpec describes one stream or output.
type NodeSpec struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	// Op is the operator: "map", "reduceByKey", "socket", "print", ...
	Op string `json:"op"`
	// Type is the Go type of the stream's records, which selects the
	// operator's instantiation on Rebuild.
	Type    string `json:"type"`
	Parents []int  `json:"parents,omitempty"`
	// Funcs maps a role ("f", "reduce", "inverse", ...) to a registered
	// function name.
	Funcs  map[string]string `json:"funcs,omitempty"`
	Params map[string]string `json:"params,omitempty"`
}

func (s NodeSpec) param(key string) string { return s.Params[key] }

func (s NodeSpec) durationParam(key string) (time.Duration, error) {
	v, ok := s.Params[key]
	if !ok {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("parameter %s: %w", key, err)
	}
	return d, nil
}

// boolParam is false when absent.
func (s NodeSpec) boolParam(key string) (bool, error) {
	v, ok := s.Params[key]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("parameter %s: %w", key, err)
	}
	return b, nil
}

func (s NodeSpec) intParam(key string) (int, error) {
	v, ok := s.Params[key]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("parameter %s: %w", key, err)
	}
	return n, nil
}

// Fn is a user function registered under a name, so that a graph that uses
// it can be described as data and rebuilt in another process.
type Fn[F any] struct {
	name string
	f    F
}

// Name returns the name the function is registered under.
func (fn Fn[F]) Name() string { return fn.name }

// Func registers f under name in the default registry and returns its
// handle. Register functions at package level (var Split = runtime.Func(...))
// so that every process that links the package knows them; registering a
// name again replaces the earlier function.
func Func[F any](name string, f F) Fn[F] {
	return RegisterFunc(DefaultRegistry, name, f)
}

// RegisterFunc registers f under name in reg.
func RegisterFunc[F any](reg *Registry, name string, f F) Fn[F] {
	fn := Fn[F]{name: name, f: f}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	reg.funcs[name] = fn
	return fn
}

// Registry maps function names to functions.
type Registry struct {
	mu    sync.RWMutex
	funcs map[string]any
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{funcs: map[string]any{}} }

// DefaultRegistry holds the functions registered with Func and the built-ins.
var DefaultRegistry = NewRegistry()

// Names lists the registered function names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.funcs))
	for n := range r.funcs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookupFn[F any](r *Registry, name string) (Fn[F], error) {
	r.mu.RLock()
	v, ok := r.funcs[name]
	r.mu.RUnlock()
	if !ok {
		return Fn[F]{}, fmt.Errorf("function %q is not registered", name)
	}
	fn, ok := v.(Fn[F])
	if !ok {
		return Fn[F]{}, fmt.Errorf("function %q is a %T, not a %s", name, v, reflect.TypeFor[F]())
	}
	return fn, nil
}

// builder carries what an operator's constructor needs, whether the graph is
// being built by SDK calls (fns and values hold the Go values) or rebuilt
// from a GraphSpec (they are looked up by name or parsed from Params).
type builder struct {
	ctx     *Context
	spec    *NodeSpec
	parents []node
	fns     map[string]any // role -> Fn[F], set by SDK calls
	values  map[string]any // in-process-only values (queue contents, source objects)
}

// fn returns the function for role, as given to the SDK call or by name from
// the registry.
func builderFn[F any](b *builder, role string) (Fn[F], error) {
	if v, ok := b.fns[role]; ok {
		return v.(Fn[F]), nil
	}
	name, ok := b.spec.Funcs[role]
	if !ok {
		return Fn[F]{}, fmt.Errorf("no %s function", role)
	}
	fn, err := lookupFn[F](b.ctx.registry, name)
	if err != nil && b.ctx.registry != DefaultRegistry {
		// Built-ins (sum[int64], ...) live in the default registry.
		if builtin, berr := lookupFn[F](DefaultRegistry, name); berr == nil {
			return builtin, nil
		}
	}
	return fn, err
}

// partitions reads the "partitions" parameter of a keyed operator; zero
// means the context's parallelism.
func (b *builder) partitions() (int, error) {
	n, err := b.spec.intParam("partitions")
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("partitions must not be negative, got %d", n)
	}
	if n == 0 {
		n = b.ctx.cfg.Parallelism
	}
	return n, nil
}

func builderParent[T any](b *builder, i int) (streamNode[T], error) {
	if i >= len(b.parents) {
		return nil, fmt.Errorf("missing parent %d", i)
	}
	p, ok := b.parents[i].(streamNode[T])
	if !ok {
		return nil, fmt.Errorf("parent %q does not carry %s records", b.parents[i].info().name, reflect.TypeFor[T]())
	}
	return p, nil
}

// buildFunc constructs an operator from a builder.
type buildFunc func(b *builder) (node, error)

// builders holds every operator instantiation this process has built, keyed
// by operator, parent record types and output record type, so that Rebuild
// can instantiate the same generic operator from a NodeSpec.
var builders sync.Map // string -> buildFunc

func builderKey(op string, parentTypes []string, outType string) string {
	return fmt.Sprintf("%s(%v)%s", op, parentTypes, outType)
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// Describe returns the graph as data.
func (c *Context) Describe() GraphSpec {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := GraphSpec{BatchInterval: c.cfg.BatchInterval}
	for _, n := range c.nodes {
		g.Nodes = append(g.Nodes, n.info().spec)
	}
	return g
}

// Rebuild builds the graph described by spec in c, which must be new. Every
// function must be registered in c's registry, and every operator
// instantiation must be known to this process: Tributary's binaries build the
// dynamic (any) instantiations that manifests use; a Go program rebuilding
// its own typed graph links the code that builds it.
func (c *Context) Rebuild(spec GraphSpec) error {
	if spec.BatchInterval != c.cfg.BatchInterval {
		return fmt.Errorf("graph was described with batch interval %s, context has %s", spec.BatchInterval, c.cfg.BatchInterval)
	}
	byID := map[int]node{}
	for _, ns := range spec.Nodes {
		ns := ns
		var parents []node
		var ptypes []string
		for _, pid := range ns.Parents {
			p, ok := byID[pid]
			if !ok {
				return fmt.Errorf("stream %q: parent %d is not defined before it", ns.Name, pid)
			}
			parents = append(parents, p)
			ptypes = append(ptypes, p.info().spec.Type)
		}
		key := builderKey(ns.Op, ptypes, ns.Type)
		bf, ok := builders.Load(key)
		if !ok {
			return fmt.Errorf("stream %q: operator %s is not known to this process", ns.Name, key)
		}
		n, err := c.addNode(&ns, parents, nil, nil, bf.(buildFunc))
		if err != nil {
			return err
		}
		byID[ns.ID] = n
	}
	return c.buildErr
}

// Registry returns the registry the context resolves function names in.
func (c *Context) Registry() *Registry { return c.registry }
