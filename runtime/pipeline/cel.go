package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/tributary-dev/tributary/runtime"
)

// celCostLimit bounds one evaluation, so that an expression cannot stall a
// batch (a comprehension over a huge list); exceeding it fails the record.
const celCostLimit = 10_000_000

// celEnv is the environment every expression is compiled in. It declares
// every variable any step offers as dyn; compile then rejects references to
// variables the step does not bind. Only deterministic functions are
// included (no clock), so a recomputed batch evaluates the same.
var celEnv = func() *cel.Env {
	opts := []cel.EnvOption{ext.Strings(), ext.Lists(), ext.Math(), ext.Sets(), ext.Encoders(), sumFunction}
	for _, v := range allVariables {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		panic(fmt.Sprintf("CEL environment: %v", err))
	}
	return env
}()

// sumFunction adds sum(list) and list.sum(): CEL has no fold, and summing a
// key's values is what state updates need most. Integers stay integers.
var sumFunction = cel.Function("sum",
	cel.Overload("sum_list", []*cel.Type{cel.ListType(cel.DynType)}, cel.DynType, cel.UnaryBinding(sumList)),
	cel.MemberOverload("list_sum", []*cel.Type{cel.ListType(cel.DynType)}, cel.DynType, cel.UnaryBinding(sumList)),
)

func sumList(v ref.Val) ref.Val {
	l, ok := v.(traits.Lister)
	if !ok {
		return types.NewErr("sum needs a list")
	}
	var total ref.Val = types.Int(0)
	for it := l.Iterator(); it.HasNext() == types.True; {
		e := it.Next()
		switch e.Type() {
		case types.IntType, types.DoubleType:
		default:
			return types.NewErr("sum needs numbers, got %s", e.Type())
		}
		if total.Type() == types.IntType && e.Type() == types.DoubleType {
			total = types.Double(float64(total.(types.Int)))
		}
		if total.Type() == types.DoubleType && e.Type() == types.IntType {
			e = types.Double(float64(e.(types.Int)))
		}
		total = total.(traits.Adder).Add(e)
		if types.IsError(total) {
			return total
		}
	}
	return total
}

var allVariables = []string{"record", "key", "value", "a", "b", "values", "state", "timingOut", "newState", "none"}

// none is null typed as dyn, bound in every expression, so that a
// conditional can yield "nothing": `timingOut ? {'user': key} : none`. (CEL
// does not unify a map with a plain null.)
const none = "none"

// expr is a compiled, type-checked CEL expression.
type expr struct {
	field  string
	source string
	prg    cel.Program
	// The commonest expressions need no interpreter: a bare variable
	// ("record") is read directly, and one that reads no variable ("1") is
	// evaluated once, when the manifest is loaded.
	ident    string
	constant bool
	value    any
}

// compileExpr compiles source for the field at path. bindable are the
// variables the step binds; want, if not nil, is the type the step needs the result to
// have (a dyn result is checked when evaluated).
func compileExpr(path, source string, bindable []string, want *cel.Type) (*expr, *FieldError) {
	ast, iss := celEnv.Compile(source)
	if iss.Err() != nil {
		return nil, &FieldError{Field: path, Detail: celIssues(iss.Err())}
	}
	bound := map[string]bool{}
	for _, v := range bindable {
		bound[v] = true
	}
	for _, name := range referencedVariables(ast) {
		if !bound[name] && name != none {
			return nil, &FieldError{Field: path, Detail: fmt.Sprintf("%s is not available here; this step offers %s", name, strings.Join(bindable, ", "))}
		}
	}
	if out := ast.OutputType(); want != nil && !out.IsExactType(cel.DynType) && !want.IsAssignableType(out) {
		return nil, &FieldError{Field: path, Detail: fmt.Sprintf("expression returns %s, this step needs %s", out, want)}
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(celCostLimit), cel.InterruptCheckFrequency(1000), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &FieldError{Field: path, Detail: err.Error()}
	}
	e := &expr{field: path, source: source, prg: prg}
	if root := ast.NativeRep().Expr(); root.Kind() == celast.IdentKind {
		e.ident = root.AsIdent()
	} else if len(referencedVariables(ast)) == 0 {
		out, _, err := prg.Eval(&vars{})
		if err == nil {
			e.value, err = toNative(out)
		}
		if err != nil {
			return nil, &FieldError{Field: path, Detail: "evaluating a constant expression: " + err.Error()}
		}
		e.constant = true
	}
	return e, nil
}

// celIssues turns cel-go's report into one line per problem, without the
// source excerpt, which the field path already points to.
func celIssues(err error) string {
	var msgs []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "ERROR: ") {
			continue
		}
		line = strings.TrimPrefix(line, "ERROR: ")
		if _, rest, ok := strings.Cut(line, ": "); ok && strings.HasPrefix(line, "<input>:") {
			line = rest
		}
		line = strings.TrimSuffix(line, " (in container '')")
		msgs = append(msgs, line)
	}
	if len(msgs) == 0 {
		return err.Error()
	}
	return strings.Join(msgs, "; ")
}

// referencedVariables lists the identifiers an expression reads that are
// declared variables.
func referencedVariables(ast *cel.Ast) []string {
	checked, err := cel.AstToCheckedExpr(ast)
	if err != nil {
		return nil
	}
	declared := map[string]bool{}
	for _, v := range allVariables {
		declared[v] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, ref := range checked.GetReferenceMap() {
		if n := ref.GetName(); declared[n] && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// vars binds variable names to values for one evaluation without building
// a map per record.
type vars struct {
	names  [6]string
	values [6]any
	n      int
}

func (v *vars) set(name string, value any) *vars {
	v.names[v.n], v.values[v.n] = name, value
	v.n++
	return v
}

// ResolveName implements interpreter.Activation.
func (v *vars) ResolveName(name string) (any, bool) {
	for i := 0; i < v.n; i++ {
		if v.names[i] == name {
			return v.values[i], true
		}
	}
	return nil, name == none
}

// Parent implements interpreter.Activation.
func (v *vars) Parent() interpreter.Activation { return nil }

// eval evaluates the expression and converts the result to a plain Go
// value. A failure is a bad record: it fails the batch through runtime.Fail,
// naming the stream and the batch time.
func (e *expr) eval(in *vars) any {
	if e.constant {
		return e.value
	}
	if e.ident != "" {
		v, _ := in.ResolveName(e.ident)
		return v
	}
	out, _, err := e.prg.Eval(in)
	if err != nil {
		runtime.Fail(fmt.Errorf("%s: evaluating %q: %w", e.field, e.source, err))
	}
	v, err := toNative(out)
	if err != nil {
		runtime.Fail(fmt.Errorf("%s: %q returned %w", e.field, e.source, err))
	}
	return v
}

// evalBool evaluates a predicate.
func (e *expr) evalBool(in *vars) bool {
	v := e.eval(in)
	b, ok := v.(bool)
	if !ok {
		runtime.Fail(fmt.Errorf("%s: %q returned %T, want a bool", e.field, e.source, v))
	}
	return b
}

// evalList evaluates an expression that must return a list.
func (e *expr) evalList(in *vars) []any {
	v := e.eval(in)
	l, ok := v.([]any)
	if !ok && v != nil {
		runtime.Fail(fmt.Errorf("%s: %q returned %T, want a list", e.field, e.source, v))
	}
	return l
}

// toNative converts a CEL value to the engine's record values: nil, bool,
// int64, uint64, float64, string, []byte, []any and map[string]any.
func toNative(v ref.Val) (any, error) {
	switch v.Type() {
	case types.NullType:
		return nil, nil
	case types.BoolType, types.IntType, types.UintType, types.DoubleType, types.StringType, types.BytesType:
		return v.Value(), nil
	case types.TimestampType:
		return v.Value().(time.Time).UTC().Format(time.RFC3339Nano), nil
	case types.DurationType:
		return v.Value().(time.Duration).String(), nil
	case types.ListType:
		l := v.(traits.Lister)
		n := int(l.Size().(types.Int))
		out := make([]any, n)
		for i := 0; i < n; i++ {
			e, err := toNative(l.Get(types.Int(i)))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case types.MapType:
		m := v.(traits.Mapper)
		out := make(map[string]any, int(m.Size().(types.Int)))
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.Value().(string)
			if !ok {
				return nil, fmt.Errorf("a map with a %s key; record maps need string keys", k.Type())
			}
			e, err := toNative(m.Get(k))
			if err != nil {
				return nil, err
			}
			out[ks] = e
		}
		return out, nil
	}
	if err, ok := v.(*types.Err); ok {
		return nil, errors.New(err.Error())
	}
	return nil, fmt.Errorf("a value of type %s, which a record cannot hold", v.Type())
}
