package runtime

import (
	"strings"
	"testing"
)

func TestPrintShowsFirstRecordsUnderBatchHeader(t *testing.T) {
	var out strings.Builder
	h := newHarness(t, Config{Stdout: &out})
	q := NewQueue([]string{"a", "b", "c"}, []string{"d"})
	q.Close()
	QueueStream(h.c, q).PrintN(2)
	h.start()
	h.step(2)
	want := "-------------------------------------------\nTime: 1000 ms\n-------------------------------------------\na\nb\n...\n\n" +
		"-------------------------------------------\nTime: 2000 ms\n-------------------------------------------\nd\n\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestFormatRecordShowsDynamicRecordsAsJSON(t *testing.T) {
	cases := map[string]any{
		`{"clicks":1,"user":"bob"}`: map[string]any{"user": "bob", "clicks": int64(1)},
		`(ann,[1,2])`:               KV[any, any]("ann", []any{int64(1), int64(2)}),
		`(a,1)`:                     KV("a", 1),
		`plain`:                     "plain",
		`3.5`:                       3.5,
	}
	for want, r := range cases {
		if got := FormatRecord(r); got != want {
			t.Errorf("FormatRecord(%#v) = %s, want %s", r, got, want)
		}
	}
}
