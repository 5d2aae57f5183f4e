package cluster

import (
	"fmt"
	"sync"

	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// blockChunkBytes is the size of the chunks a block travels in.
const blockChunkBytes = 1 << 20

// ErrStoreFull is returned by Put when a block does not fit in the store's
// memory bound.
var ErrStoreFull = fmt.Errorf("block store is full")

// BlockStore keeps an executor's blocks in memory, within a byte bound.
type BlockStore struct {
	mu       sync.Mutex
	capacity int64
	used     int64
	blocks   map[string][]byte
}

// NewBlockStore returns a store holding at most capacity bytes.
func NewBlockStore(capacity int64) *BlockStore {
	return &BlockStore{capacity: capacity, blocks: map[string][]byte{}}
}

// Put stores a block, replacing any block with the same ID.
func (s *BlockStore) Put(id string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := int64(len(s.blocks[id]))
	if s.used-old+int64(len(data)) > s.capacity {
		return fmt.Errorf("%w: %s of %d bytes does not fit (%d of %d used)", ErrStoreFull, id, len(data), s.used, s.capacity)
	}
	s.blocks[id] = data
	s.used += int64(len(data)) - old
	return nil
}

// Get returns a block.
func (s *BlockStore) Get(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blocks[id]
	return b, ok
}

// Remove drops a block.
func (s *BlockStore) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used -= int64(len(s.blocks[id]))
	delete(s.blocks, id)
}

// Used returns the bytes stored.
func (s *BlockStore) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// blockServer serves a store's blocks to the driver and to peers.
type blockServer struct {
	pb.UnimplementedExecutorServer
	store *BlockStore
}

func (b *blockServer) FetchBlock(req *pb.FetchBlockRequest, stream pb.Executor_FetchBlockServer) error {
	data, ok := b.store.Get(req.BlockId)
	if !ok {
		return statusNotFound(req.BlockId)
	}
	for off := 0; ; off += blockChunkBytes {
		end := min(off+blockChunkBytes, len(data))
		last := end == len(data)
		if err := stream.Send(&pb.BlockChunk{Data: data[off:end], Last: last}); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}
