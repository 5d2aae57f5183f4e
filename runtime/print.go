package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// printOutput writes the first records of each batch.
type printOutput[T any] struct {
	outputBase
	parent streamNode[T]
	n      int
}

// Print writes the first 10 records of each batch to the context's Stdout,
// under a header with the batch time, as Spark's print does.
func (s Stream[T]) Print() { s.PrintN(10) }

// PrintN writes the first n records of each batch.
func (s Stream[T]) PrintN(n int) {
	addOutputOp(s, NodeSpec{Op: "print", Params: map[string]string{"n": strconv.Itoa(n)}}, nil,
		func(b *builder, parent streamNode[T]) (outputNode, error) {
			n, err := b.spec.intParam("n")
			if err != nil {
				return nil, err
			}
			if n <= 0 {
				return nil, fmt.Errorf("print needs a positive record count, got %d", n)
			}
			return &printOutput[T]{parent: parent, n: n}, nil
		})
}

func (o *printOutput[T]) prepare(ctx context.Context, t Time) (func(context.Context) error, error) {
	ds, err := get(o.parent, t)
	if err != nil || ds == nil {
		return nil, err
	}
	// Take n+1 records from each partition in parallel: enough to know
	// whether to print the ellipsis.
	firsts := make([][]T, ds.parts)
	err = o.ctx.sched.runTasks(ctx, &o.nodeInfo, t, "print", ds.stages, ds.parts, func(tc *taskContext, p int) error {
		ds.compute(tc, p, func(r T) bool {
			firsts[p] = append(firsts[p], r)
			return len(firsts[p]) <= o.n
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("-------------------------------------------\n")
	fmt.Fprintf(&b, "Time: %s\n", t)
	b.WriteString("-------------------------------------------\n")
	printed := 0
	for _, part := range firsts {
		for _, r := range part {
			if printed == o.n {
				b.WriteString("...\n")
				goto done
			}
			b.WriteString(FormatRecord(r))
			b.WriteByte('\n')
			printed++
		}
	}
done:
	b.WriteString("\n")
	text := b.String()
	return func(context.Context) error {
		_, err := fmt.Fprint(o.ctx.cfg.Stdout, text)
		return err
	}, nil
}

// FormatRecord renders a record the way print shows it: its String method if
// it has one, maps and lists (dynamic records) as JSON, anything else with
// fmt's %v.
func FormatRecord(r any) string {
	switch v := r.(type) {
	case fmt.Stringer:
		return v.String()
	case string:
		return v
	case map[string]any, []any:
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(r)
}
