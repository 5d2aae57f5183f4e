package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
)

// Store is an object store for checkpoints. Keys are slash-separated paths
// relative to the checkpoint location.
type Store interface {
	// Put writes an object whole, replacing any object at key: a reader
	// sees the old object or the new one, never part of one.
	Put(ctx context.Context, key string, data []byte) error
	// Create writes an object only if none exists at key, atomically; it
	// returns an error wrapping ErrExists otherwise. Two writers racing for
	// one key: exactly one succeeds.
	Create(ctx context.Context, key string, data []byte) error
	// Get reads an object; an error wrapping ErrNotFound if there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// ListInfo returns the objects under prefix, sorted by key, with their
	// size and modification time.
	ListInfo(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Open reads an object as a stream; an error wrapping ErrNotFound if
	// there is none.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes an object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// String names the location, without credentials, for logs and status.
	String() string
}

// ObjectInfo describes one object of a listing.
type ObjectInfo struct {
	Key      string
	Size     int64
	Modified time.Time
}

// keysOf returns the keys of a listing.
func keysOf(objects []ObjectInfo) []string {
	keys := make([]string, len(objects))
	for i, o := range objects {
		keys[i] = o.Key
	}
	return keys
}

var (
	// ErrNotFound is wrapped by Get's error for a missing object.
	ErrNotFound = errors.New("no such object")
	// ErrExists is wrapped by Create's error when the object exists.
	ErrExists = errors.New("the object already exists")
	// ErrConditionalUnsupported is wrapped by Create's error when the
	// server does not implement conditional writes (If-None-Match): the
	// caller must fall back to names no other writer uses.
	ErrConditionalUnsupported = errors.New("the store does not support conditional writes")
)

// validKey rejects keys that could escape the checkpoint location or that
// object stores treat differently from directories.
func validKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty checkpoint key")
	case strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/"):
		return fmt.Errorf("checkpoint key %q: must not start or end with /", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." || strings.HasPrefix(part, tmpPrefix) {
			return fmt.Errorf("checkpoint key %q: invalid element %q", key, part)
		}
	}
	return nil
}

// Transient reports whether a store operation failed in a way that waiting
// can cure: the server unreachable, restarting or overloaded. Callers retry
// those and fail at once on the rest (a missing bucket, denied access), which
// no retry fixes.
func Transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrNotFound), errors.Is(err, ErrExists), errors.Is(err, ErrConditionalUnsupported):
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.Code != "" {
		return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
			resp.Code == "SlowDown" || resp.Code == "RequestTimeout"
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
