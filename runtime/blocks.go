package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// BlockID names what one task of a stage produced: one block per task, or
// one per bucket on the map side of a shuffle. It is the same in every
// process that builds the graph, so blocks can be fetched by name.
type BlockID struct {
	Stage  StageKey
	Task   int
	Bucket int
}

func (id BlockID) String() string {
	return fmt.Sprintf("%d/%d/%d/%d/%d", id.Stage.Node, int64(id.Stage.Time), id.Stage.Ordinal, id.Task, id.Bucket)
}

// ParseBlockID parses BlockID.String's form.
func ParseBlockID(s string) (BlockID, error) {
	f := strings.Split(s, "/")
	if len(f) != 5 {
		return BlockID{}, fmt.Errorf("block ID %q: want node/time/ordinal/task/bucket", s)
	}
	var n [5]int64
	for i, x := range f {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil || v < 0 {
			return BlockID{}, fmt.Errorf("block ID %q: field %d is not a non-negative integer", s, i)
		}
		n[i] = v
	}
	return BlockID{Stage: StageKey{Node: int(n[0]), Time: Time(n[1]), Ordinal: int(n[2])}, Task: int(n[3]), Bucket: int(n[4])}, nil
}

type storedBlock struct {
	records any // []T of the writing stage's record type
	encode  func() ([]byte, error)
}

type taskLocation struct {
	stage StageKey
	task  int
}

// blockStore holds a context's stage outputs, and, in cluster mode, where
// the blocks written elsewhere are. Blocks are dropped with the batch that
// made them.
type blockStore struct {
	mu     sync.RWMutex
	blocks map[BlockID]storedBlock
	// raw holds encoded copies fetched from other processes (replicas of
	// self-dependent stages), decoded when first read.
	raw       map[BlockID][]byte
	locations map[taskLocation]string
	// backups are second copies of blocks written elsewhere (received
	// input, replicated to another executor): a backup stands in when the
	// primary's process is lost.
	backups map[taskLocation]string
	// fetch reads a block from the process at an address (cluster mode).
	fetch func(ctx context.Context, address string, id BlockID) ([]byte, error)
}

func newBlockStore(fetch func(ctx context.Context, address string, id BlockID) ([]byte, error)) *blockStore {
	return &blockStore{blocks: map[BlockID]storedBlock{}, locations: map[taskLocation]string{}, backups: map[taskLocation]string{}, fetch: fetch}
}

func putBlock[T any](s *blockStore, id BlockID, records []T) {
	s.mu.Lock()
	s.blocks[id] = storedBlock{records: records, encode: func() ([]byte, error) { return EncodeRecords(records) }}
	s.mu.Unlock()
}

// getBlock returns a block's records, fetching it from where it was written
// when it is not here. A block that cannot be found fails the task.
func getBlock[T any](tc *taskContext, s *blockStore, id BlockID) []T {
	s.mu.RLock()
	b, ok := s.blocks[id]
	raw, isRaw := s.raw[id]
	addr, remote := s.locations[taskLocation{id.Stage, id.Task}]
	s.mu.RUnlock()
	if ok {
		return b.records.([]T)
	}
	if isRaw {
		records, err := DecodeRecords[T](raw)
		if err != nil {
			abortTask(fmt.Errorf("block %s: %w", id, err))
		}
		putBlock(s, id, records)
		return records
	}
	if !remote || s.fetch == nil {
		abortTask(&MissingBlockError{ID: id})
	}
	ctx := context.Background()
	if tc != nil && tc.ctx != nil {
		ctx = tc.ctx
	}
	data, err := s.fetch(ctx, addr, id)
	if err != nil {
		abortTask(&MissingBlockError{ID: id, Address: addr, Err: err})
	}
	records, err := DecodeRecords[T](data)
	if err != nil {
		abortTask(fmt.Errorf("block %s from %s: %w", id, addr, err))
	}
	putBlock(s, id, records)
	return records
}

// MissingBlockError is a task input that is not where it should be: its
// writer's process was lost, or the batch was forgotten.
type MissingBlockError struct {
	ID      BlockID
	Address string
	Err     error
}

func (e *MissingBlockError) Error() string {
	if e.Address == "" {
		return fmt.Sprintf("block %s is missing", e.ID)
	}
	return fmt.Sprintf("block %s could not be fetched from %s: %v", e.ID, e.Address, e.Err)
}

func (e *MissingBlockError) Unwrap() error { return e.Err }

// ErrBlockNotHeld is what a process answers for a block it does not hold:
// it was forgotten or never written there. Unlike an unreachable process,
// waiting does not help; the task that wrote the block must run again.
var ErrBlockNotHeld = errors.New("the process does not hold the block")

// notHeldAt says which block a task found missing at the process the
// driver named for it, if that is why err happened.
func notHeldAt(err error) (*MissingBlockError, bool) {
	var missing *MissingBlockError
	if errors.As(err, &missing) && missing.Address != "" && errors.Is(missing.Err, ErrBlockNotHeld) {
		return missing, true
	}
	return nil, false
}

func (s *blockStore) setLocation(stage StageKey, task int, address string) {
	s.mu.Lock()
	s.locations[taskLocation{stage, task}] = address
	s.mu.Unlock()
}

// holdsTask reports whether every block of a task is here (written here,
// fetched, or copied as a backup).
func (s *blockStore) holdsTask(stage StageKey, task, buckets int) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for b := 0; b < buckets; b++ {
		id := BlockID{Stage: stage, Task: task, Bucket: b}
		_, typed := s.blocks[id]
		_, raw := s.raw[id]
		if !typed && !raw {
			return false
		}
	}
	return true
}

// setBackup records where a second copy of a task's blocks is.
func (s *blockStore) setBackup(stage StageKey, task int, address string) {
	s.mu.Lock()
	s.backups[taskLocation{stage, task}] = address
	s.mu.Unlock()
}

// dropLocationsAt forgets every block held at address and returns those
// left with no copy elsewhere; a backup copy becomes the primary one.
func (s *blockStore) dropLocationsAt(address string) []taskLocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lost []taskLocation
	for loc, a := range s.backups {
		if a == address {
			delete(s.backups, loc)
		}
	}
	for loc, a := range s.locations {
		if a != address {
			continue
		}
		if b, ok := s.backups[loc]; ok {
			s.locations[loc] = b
			delete(s.backups, loc)
			continue
		}
		lost = append(lost, loc)
		delete(s.locations, loc)
	}
	return lost
}

// dropLocation forgets that a task's blocks are at address, if that is
// still where they are recorded, and reports whether it did; a backup copy
// becomes the primary one.
func (s *blockStore) dropLocation(loc taskLocation, address string) (dropped, promoted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locations[loc] != address {
		return false, false
	}
	if b, ok := s.backups[loc]; ok && b != address {
		s.locations[loc] = b
		delete(s.backups, loc)
		return true, true
	}
	delete(s.locations, loc)
	return true, false
}

func (s *blockStore) location(stage StageKey, task int) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.locations[taskLocation{stage, task}]
	return a, ok
}

// encoded returns a stored block's encoding, for serving it to peers.
func (s *blockStore) encoded(id BlockID) ([]byte, error) {
	s.mu.RLock()
	b, ok := s.blocks[id]
	raw, isRaw := s.raw[id]
	s.mu.RUnlock()
	switch {
	case ok:
		return b.encode()
	case isRaw:
		return raw, nil
	}
	return nil, &MissingBlockError{ID: id, Err: ErrBlockNotHeld}
}

// putRaw stores an encoded copy of a block.
func (s *blockStore) putRaw(id BlockID, data []byte) {
	s.mu.Lock()
	if s.raw == nil {
		s.raw = map[BlockID][]byte{}
	}
	s.raw[id] = data
	s.mu.Unlock()
}

// dropStage removes every block of a stage, and where it was.
func (s *blockStore) dropStage(stage StageKey, tasks, buckets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for task := 0; task < tasks; task++ {
		delete(s.locations, taskLocation{stage, task})
		delete(s.backups, taskLocation{stage, task})
		for b := 0; b < max(buckets, 1); b++ {
			id := BlockID{Stage: stage, Task: task, Bucket: b}
			delete(s.blocks, id)
			delete(s.raw, id)
		}
	}
}

func (s *blockStore) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blocks)
}
