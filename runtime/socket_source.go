package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// SocketOptions configure SocketTextStream.
type SocketOptions struct {
	// StopAtEOF ends the stream when the server closes the connection,
	// making it a bounded source. By default the receiver reconnects.
	StopAtEOF bool
	// DialTimeout bounds each connection attempt. Zero means 10s.
	DialTimeout time.Duration
	// WriteAheadLog logs received lines, as ReceiverOptions.WriteAheadLog.
	WriteAheadLog bool
}

// SocketTextStream returns a stream of the lines read from a TCP server at
// host:port: one line is one record. The connection is unreliable in Spark's
// sense: lines received but not yet in a batch are lost if the process dies.
func SocketTextStream(c *Context, host string, port int, opts SocketOptions) Stream[string] {
	params := map[string]string{
		"host": host, "port": strconv.Itoa(port),
		"stopAtEOF": strconv.FormatBool(opts.StopAtEOF), "dialTimeout": opts.DialTimeout.String(),
		"writeAheadLog": strconv.FormatBool(opts.WriteAheadLog),
	}
	return addStream(c, NodeSpec{Op: "socket", Params: params}, nil, nil, nil, func(b *builder) (streamNode[string], error) {
		port, err := b.spec.intParam("port")
		if err != nil {
			return nil, err
		}
		if port <= 0 || port > 65535 {
			return nil, fmt.Errorf("port %d is out of range", port)
		}
		o := SocketOptions{}
		if o.StopAtEOF, err = strconv.ParseBool(b.spec.param("stopAtEOF")); err != nil {
			return nil, fmt.Errorf("parameter stopAtEOF: %w", err)
		}
		if o.DialTimeout, err = b.spec.durationParam("dialTimeout"); err != nil {
			return nil, err
		}
		if o.DialTimeout <= 0 {
			o.DialTimeout = 10 * time.Second
		}
		addr := net.JoinHostPort(b.spec.param("host"), strconv.Itoa(port))
		newReceiver := func() Receiver[string] { return &socketReceiver{addr: addr, opts: o} }
		src := newReceiverSource(newReceiver, b.ctx.cfg.Parallelism, b.ctx.log)
		if src.logged, err = b.spec.boolParam("writeAheadLog"); err != nil {
			return nil, err
		}
		return newInputStream[string](src), nil
	})
}

type socketReceiver struct {
	addr string
	opts SocketOptions

	mu     sync.Mutex
	conn   net.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *socketReceiver) Start(store Store[string]) error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		if err := r.receive(ctx, store); err != nil && ctx.Err() == nil {
			store.ReportError(err)
		}
	}()
	return nil
}

func (r *socketReceiver) receive(ctx context.Context, store Store[string]) error {
	d := net.Dialer{Timeout: r.opts.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", r.addr, err)
	}
	r.mu.Lock()
	r.conn = conn
	r.mu.Unlock()
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 64*1024), maxLineBytes)
	for sc.Scan() {
		store.Store(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading from %s: %w", r.addr, err)
	}
	if r.opts.StopAtEOF {
		store.Finish()
		return nil
	}
	return errors.New("connection closed by " + r.addr)
}

func (r *socketReceiver) Stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.mu.Lock()
	if r.conn != nil {
		_ = r.conn.Close()
	}
	r.mu.Unlock()
	<-r.done
	return nil
}
