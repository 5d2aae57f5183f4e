package checkpoint

import (
	"context"
	"io"
	"strings"
)

// Sub returns the part of store under prefix (a relative path such as
// "savepoints/nightly") as a store of its own: a savepoint is laid out as
// a checkpoint location, so recovery reads it with the same code.
func Sub(store Store, prefix string) Store {
	return &sub{store: store, prefix: strings.Trim(prefix, "/") + "/"}
}

type sub struct {
	store  Store
	prefix string
}

func (s *sub) Put(ctx context.Context, key string, data []byte) error {
	return s.store.Put(ctx, s.prefix+key, data)
}

func (s *sub) Create(ctx context.Context, key string, data []byte) error {
	return s.store.Create(ctx, s.prefix+key, data)
}

func (s *sub) Get(ctx context.Context, key string) ([]byte, error) {
	return s.store.Get(ctx, s.prefix+key)
}

func (s *sub) List(ctx context.Context, prefix string) ([]string, error) {
	keys, err := s.store.List(ctx, s.prefix+prefix)
	for i := range keys {
		keys[i] = strings.TrimPrefix(keys[i], s.prefix)
	}
	return keys, err
}

func (s *sub) ListInfo(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	infos, err := s.store.ListInfo(ctx, s.prefix+prefix)
	for i := range infos {
		infos[i].Key = strings.TrimPrefix(infos[i].Key, s.prefix)
	}
	return infos, err
}

func (s *sub) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.store.Open(ctx, s.prefix+key)
}

func (s *sub) Delete(ctx context.Context, key string) error {
	return s.store.Delete(ctx, s.prefix+key)
}

func (s *sub) String() string {
	return strings.TrimSuffix(s.store.String(), "/") + "/" + strings.TrimSuffix(s.prefix, "/")
}
