package runtime

import "cmp"

// Number is what the built-in arithmetic reducers accept.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Built-in functions are native Go, registered under names that include
// their type ("sum[int64]"), so that descriptions that use them rebuild
// without user registration.

// Sum returns the registered function a+b for N.
func Sum[N Number]() Fn[func(N, N) N] {
	return builtinFn("sum["+typeName[N]()+"]", func(a, b N) N { return a + b })
}

// Subtract returns the registered function a-b for N: Sum's inverse.
func Subtract[N Number]() Fn[func(N, N) N] {
	return builtinFn("subtract["+typeName[N]()+"]", func(a, b N) N { return a - b })
}

// Min returns the registered function min(a, b) for T.
func Min[T cmp.Ordered]() Fn[func(T, T) T] {
	return builtinFn("min["+typeName[T]()+"]", func(a, b T) T { return min(a, b) })
}

// Max returns the registered function max(a, b) for T.
func Max[T cmp.Ordered]() Fn[func(T, T) T] {
	return builtinFn("max["+typeName[T]()+"]", func(a, b T) T { return max(a, b) })
}

// NonZero returns the registered predicate that keeps pairs whose value is
// not zero: the usual keep function of an incremental windowed count.
func NonZero[K comparable, N Number]() Fn[func(Pair[K, N]) bool] {
	return builtinFn("nonZero["+typeName[Pair[K, N]]()+"]", func(kv Pair[K, N]) bool { return kv.Value != 0 })
}

// builtinFn registers a built-in once; later calls return the same handle.
func builtinFn[F any](name string, f F) Fn[F] {
	if fn, err := lookupFn[F](DefaultRegistry, name); err == nil {
		return fn
	}
	return RegisterFunc(DefaultRegistry, name, f)
}
