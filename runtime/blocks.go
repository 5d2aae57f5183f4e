package runtime

import (
	"fmt"
	"sync"
)

// blockKey names what one task of a stage produced: one block per task, or
// one per bucket on the map side of a shuffle.
type blockKey struct {
	stage  StageKey
	task   int
	bucket int
}

func (k blockKey) String() string {
	return fmt.Sprintf("%s task %d bucket %d", k.stage, k.task, k.bucket)
}

// blockStore holds a context's stage outputs. Blocks are keyed by stage, so
// that a task can be named by data and its output found by any process
// (docs/design/distributed.md), and dropped with the batch that made them.
type blockStore struct {
	mu     sync.RWMutex
	blocks map[blockKey]any // []T of the writing stage's record type
}

func newBlockStore() *blockStore { return &blockStore{blocks: map[blockKey]any{}} }

func putBlock[T any](s *blockStore, k blockKey, records []T) {
	s.mu.Lock()
	s.blocks[k] = records
	s.mu.Unlock()
}

// getBlock returns a block's records. A missing block is a lost or
// forgotten input of the task, which fails.
func getBlock[T any](s *blockStore, k blockKey) []T {
	s.mu.RLock()
	v, ok := s.blocks[k]
	s.mu.RUnlock()
	if !ok {
		abortTask(fmt.Errorf("block %s is missing", k))
	}
	return v.([]T)
}

// dropStage removes every block of a stage.
func (s *blockStore) dropStage(stage StageKey, tasks, buckets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for task := 0; task < tasks; task++ {
		for b := 0; b < max(buckets, 1); b++ {
			delete(s.blocks, blockKey{stage: stage, task: task, bucket: b})
		}
	}
}

func (s *blockStore) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blocks)
}
