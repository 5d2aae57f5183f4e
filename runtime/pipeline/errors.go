package pipeline

import (
	"fmt"
	"strings"
)

// FieldError is a problem with one field of a manifest.
type FieldError struct {
	// Field is the path, such as spec.pipeline.streams[1].flatMap.
	Field  string
	Detail string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Detail }

// ErrorList is every problem found in a manifest. It is an error.
type ErrorList []FieldError

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (l *ErrorList) add(field, format string, args ...any) {
	*l = append(*l, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// orNil returns nil for an empty list, so that callers can compare with nil.
func (l ErrorList) orNil() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
