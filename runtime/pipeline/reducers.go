package pipeline

import (
	"fmt"

	"github.com/tributary-dev/tributary/runtime"
)

// Built-in reducers over dynamic values, run as native Go. Integers stay
// int64; a float on either side makes a float64.

func dynSum(a, b any) any {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return x + y
		case float64:
			return float64(x) + y
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return x + float64(y)
		case float64:
			return x + y
		}
	}
	runtime.Fail(fmt.Errorf("sum of %s and %s: sum needs numbers", typeOf(a), typeOf(b)))
	return nil
}

func dynSubtract(a, b any) any {
	switch y := b.(type) {
	case int64:
		return dynSum(a, -y)
	case float64:
		return dynSum(a, -y)
	}
	runtime.Fail(fmt.Errorf("subtract %s from %s: subtract needs numbers", typeOf(b), typeOf(a)))
	return nil
}

// dynCompare orders numbers with numbers and strings with strings.
func dynCompare(a, b any) int {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case int64, float64:
		xf, xok := asFloat(a)
		yf, yok := asFloat(b)
		if xok && yok {
			switch {
			case xf < yf:
				return -1
			case xf > yf:
				return 1
			}
			return 0
		}
	}
	runtime.Fail(fmt.Errorf("cannot compare %s with %s: min and max need numbers or strings", typeOf(a), typeOf(b)))
	return 0
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func dynMin(a, b any) any {
	if dynCompare(b, a) < 0 {
		return b
	}
	return a
}

func dynMax(a, b any) any {
	if dynCompare(b, a) > 0 {
		return b
	}
	return a
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case int64:
		return "an int"
	case float64:
		return "a double"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}

var builtinReducers = map[string]func(a, b any) any{"sum": dynSum, "min": dynMin, "max": dynMax}
