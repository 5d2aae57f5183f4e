// Package pipeline turns a StreamingJob manifest into an engine graph. It
// owns loading (strict YAML), validation (the CRD's own schema and CEL rules,
// then the graph: references, cycles, keyed streams, windows, CEL
// expressions, each error with its field path) and building the graph on a
// runtime.Context with the dynamic (any) instantiation of the operators.
//
// Records are JSON-like Go values: nil, bool, int64, float64, string,
// []any and map[string]any. A key/value record is a runtime.Pair[any, any];
// CEL sees it as `key` and `value`, and every expression sees the whole
// record as `record`.
package pipeline
