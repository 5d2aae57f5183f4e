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
