package runtime

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Word count over a real TCP socket on the real clock: the server sends its
// lines and closes, the receiver reaches EOF, and the bounded run ends by
// itself with every line counted once.
func TestSocketWordCount(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const lines = 2000
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		for i := 0; i < lines; i++ {
			fmt.Fprintf(conn, "to be or not to be %d\n", i%3)
			if i%500 == 0 {
				time.Sleep(30 * time.Millisecond) // spread lines over batches
			}
		}
	}()

	c, err := NewContext(Config{BatchInterval: 50 * time.Millisecond, Workers: 2, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	words := FlatMap(SocketTextStream(c, "127.0.0.1", port, SocketOptions{StopAtEOF: true}), splitWords)
	var mu sync.Mutex
	total := map[string]int{}
	ReduceByKey(Map(words, pairOne), sumInts, 0).ForeachBatch(testFn(func(b Batch[Pair[string, int]]) error {
		mu.Lock()
		defer mu.Unlock()
		for _, kv := range b.Records() {
			total[kv.Key] += kv.Value
		}
		return nil
	}))
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.AwaitTermination() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the bounded socket run did not end by itself")
	}
	want := map[string]int{"to": 2 * lines, "be": 2 * lines, "or": lines, "not": lines, "0": 667, "1": 667, "2": 666}
	for k, v := range want {
		if total[k] != v {
			t.Errorf("%q counted %d times, want %d", k, total[k], v)
		}
	}
	if m := c.Metrics(); m.TotalRecords != lines {
		t.Errorf("metrics count %d input records, want %d", m.TotalRecords, lines)
	}
}

func TestSocketStreamRejectsBadPort(t *testing.T) {
	h := newHarness(t, Config{})
	SocketTextStream(h.c, "127.0.0.1", 70000, SocketOptions{}).Named("feed").Print()
	if err := h.c.Err(); err == nil || !strings.Contains(err.Error(), "port") {
		t.Fatalf("got %v, want a port error", err)
	}
}
