package runtime

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// CheckpointConfig turns checkpoints on: see Config.Checkpoint.
type CheckpointConfig struct {
	// Store is where checkpoints go. Required.
	Store checkpoint.Store
	// Interval is how often the batches of stateful streams are saved (a
	// data checkpoint). It must be a multiple of the batch interval. Zero
	// means the smallest multiple of the batch interval that is at least
	// 10s.
	Interval time.Duration
	// Retain is how many data checkpoints, and how many of the newest
	// metadata checkpoints, are kept. Zero means 3.
	Retain int
	// Discard deletes the checkpoints at Store and starts from empty: only
	// ever on the user's explicit request.
	Discard bool
	// Restore, when set, starts the job from empty or from another
	// location, once: see Restore.
	Restore *Restore
}

func (c CheckpointConfig) withDefaults(batch time.Duration) (CheckpointConfig, error) {
	if c.Store == nil {
		return c, errors.New("checkpoint: no store")
	}
	if c.Interval == 0 {
		c.Interval = batch * time.Duration((10*time.Second+batch-1)/batch)
	}
	if !isMultiple(c.Interval, batch) {
		return c, fmt.Errorf("checkpoint interval %s is not a multiple of the batch interval %s", c.Interval, batch)
	}
	if c.Retain <= 0 {
		c.Retain = 3
	}
	return c, nil
}

// ErrFenced is returned by a driver that a newer driver of the same job
// replaced: it stops without committing anything more.
var ErrFenced = errors.New("a newer driver took over this job")

// CheckpointStatus is what a context knows of its checkpoints.
type CheckpointStatus struct {
	Location string `json:"location"`
	// Epoch is this driver's incarnation: one more than the last driver's.
	Epoch int64 `json:"epoch"`
	// Metadata is the newest metadata checkpoint this driver wrote.
	Metadata     string `json:"metadata,omitempty"`
	MetadataTime Time   `json:"metadataTime,omitempty"`
	// Data is the newest complete data checkpoint.
	Data     string `json:"data,omitempty"`
	DataTime Time   `json:"dataTime,omitempty"`
	// RecoveredFrom is the metadata checkpoint the context started from.
	RecoveredFrom string `json:"recoveredFrom,omitempty"`
	// Skipped lists the newer checkpoints that recovery could not read,
	// each with why: recovery fell back past them.
	Skipped []string `json:"skipped,omitempty"`
	// StoreError is the last failed operation, while an object store the
	// job uses (for checkpoints, S3 outputs, an S3 source) is unavailable.
	StoreError string `json:"storeError,omitempty"`
	// Fenced is set when a newer driver took over.
	Fenced bool `json:"fenced,omitempty"`
}

// The layout under the checkpoint location. Names sort by time, then epoch.
const (
	checkpointFormat = 1
	epochsDir        = "epochs/"
	metadataDir      = "metadata/"
	dataDir          = "data/"
	dataManifestName = "manifest.json"
)

// metadataCheckpoint is written after every committed batch: what a new
// driver needs to carry on from it.
type metadataCheckpoint struct {
	Format int       `json:"format"`
	Epoch  int64     `json:"epoch"`
	Graph  GraphSpec `json:"graph"`
	// ZeroTime fixes the batch times for every later driver.
	ZeroTime  Time `json:"zeroTime"`
	Committed Time `json:"committed"`
	// PlannedThrough is the newest batch cut: the batches after Committed
	// up to it were queued or running.
	PlannedThrough Time `json:"plannedThrough"`
	// Finished marks a run whose sources were all exhausted and whose last
	// batch is committed.
	Finished bool               `json:"finished,omitempty"`
	Sources  []sourceCheckpoint `json:"sources"`
	// Data is the newest complete data checkpoint, if any: recovery restores
	// it and recomputes the batches after it from the sources' plans.
	Data      *dataRef  `json:"data,omitempty"`
	WrittenAt time.Time `json:"writtenAt"`
	// Lineage is the ID of the Restore the state descends from, if any.
	Lineage string `json:"lineage,omitempty"`
}

type sourceCheckpoint struct {
	Stream     string      `json:"stream"`
	Op         string      `json:"op"`
	Replayable bool        `json:"replayable"`
	Position   []byte      `json:"position,omitempty"`
	Plans      []savedPlan `json:"plans,omitempty"`
}

// savedPlan is a source's encoded plan of one batch.
type savedPlan struct {
	Time  Time   `json:"time"`
	Input []byte `json:"input"`
}

// dataRef names a data checkpoint: data/<time>-<epoch>/.
type dataRef struct {
	Time  Time  `json:"time"`
	Epoch int64 `json:"epoch"`
}

func (r dataRef) name() string   { return fmt.Sprintf("%016d-%010d", int64(r.Time), r.Epoch) }
func (r dataRef) prefix() string { return dataDir + r.name() + "/" }

// dataManifest is written last in a data checkpoint: the checkpoint is
// complete once it exists, and it lists every object with its checksum.
type dataManifest struct {
	Format  int           `json:"format"`
	Time    Time          `json:"time"`
	Epoch   int64         `json:"epoch"`
	Streams []savedStream `json:"streams"`
}

// savedStream is one checkpointed stream's remembered batches, keyed by the
// stream's name so that a changed manifest that keeps the name and types
// restores it.
type savedStream struct {
	Name     string       `json:"name"`
	Op       string       `json:"op"`
	Type     string       `json:"type"`
	KeyParts int          `json:"keyParts"`
	Buckets  int          `json:"buckets"`
	Batches  []savedBatch `json:"batches"`
}

type savedBatch struct {
	Time Time `json:"time"`
	// Objects holds task-major, bucket-minor: Objects[task*buckets+bucket].
	Objects []savedObject `json:"objects"`
}

type savedObject struct {
	Key    string `json:"key"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

func epochKey(e int64) string { return fmt.Sprintf("%s%010d", epochsDir, e) }

// parseEpochKey reads epochs/<epoch> and the fallback epochs/<epoch>-<nonce>.
func parseEpochKey(key string) (int64, bool) {
	name := strings.TrimPrefix(key, epochsDir)
	num, _, _ := strings.Cut(name, "-")
	e, err := strconv.ParseInt(num, 10, 64)
	return e, err == nil && e > 0
}

func metadataKey(t Time, epoch int64, data *dataRef) string {
	d := "none"
	if data != nil {
		d = data.name()
	}
	return fmt.Sprintf("%s%016d-%010d.%s.json", metadataDir, int64(t), epoch, d)
}

// metadataName is a metadata checkpoint's key, parsed.
type metadataName struct {
	key   string
	time  Time
	epoch int64
	data  string // the data checkpoint's name, or "none"
}

func parseMetadataKey(key string) (metadataName, bool) {
	name, ok := strings.CutSuffix(strings.TrimPrefix(key, metadataDir), ".json")
	head, data, ok2 := strings.Cut(name, ".")
	ts, es, ok3 := strings.Cut(head, "-")
	if !ok || !ok2 || !ok3 {
		return metadataName{}, false
	}
	t, err1 := strconv.ParseInt(ts, 10, 64)
	e, err2 := strconv.ParseInt(es, 10, 64)
	if err1 != nil || err2 != nil {
		return metadataName{}, false
	}
	return metadataName{key: key, time: Time(t), epoch: e, data: data}, true
}

// newestFirst orders checkpoint names by time, then epoch, descending.
func newestFirst(a, b metadataName) int {
	return cmp.Or(cmp.Compare(b.time, a.time), cmp.Compare(b.epoch, a.epoch))
}

// checkpointer writes a context's checkpoints and fences it off when a
// newer driver takes over.
type checkpointer struct {
	c     *Context
	cfg   CheckpointConfig
	store checkpoint.Store
	log   *slog.Logger

	epoch    int64
	epochKey string
	// graph is the context's graph, fixed once it starts.
	graph GraphSpec
	// conditional is set when the store refuses to overwrite (S3
	// If-None-Match, or a local hard link): epochs are claimed atomically.
	// Otherwise each claim has a name of its own and ties are broken by name.
	conditional bool

	// writingMeta is held from when a metadata checkpoint reads which data
	// checkpoint it refers to until it is stored: prune lists metadata
	// under it, so it never deletes data that a metadata checkpoint being
	// written refers to.
	writingMeta sync.Mutex

	mu     sync.Mutex
	data   *dataRef // newest complete data checkpoint
	saving bool
	// metaQueued is the newest committed batch whose metadata checkpoint is
	// still to be written (when queued), by the writer that runs while
	// metaWriting; metaErr is the error that stopped it.
	metaQueued  Time
	queued      bool
	metaWriting bool
	metaErr     error
	status      CheckpointStatus
	pending     sync.WaitGroup
	// lineage is written into every metadata checkpoint: see Restore.
	lineage string
	// savepoints wait for the next committed batch; stopSavepoint is
	// taken at a graceful stop, with stopResult saying how it went.
	savepoints    []savepointRequest
	stopSavepoint string
	stopResult    savepointResult
}

func newCheckpointer(c *Context, cfg CheckpointConfig) *checkpointer {
	return &checkpointer{c: c, cfg: cfg, store: cfg.Store, log: c.log.With("checkpoint", cfg.Store.String()),
		status: CheckpointStatus{Location: cfg.Store.String()}}
}

// Checkpoints describes the context's checkpoints; ok is false when they
// are off.
func (c *Context) Checkpoints() (CheckpointStatus, bool) {
	if c.ckpt == nil {
		return CheckpointStatus{}, false
	}
	c.ckpt.mu.Lock()
	defer c.ckpt.mu.Unlock()
	s := c.ckpt.status
	s.Skipped = slices.Clone(s.Skipped)
	return s, true
}

// claimEpoch takes the next epoch: one more than any claimed so far.
func (k *checkpointer) claimEpoch(ctx context.Context) error {
	for {
		keys, err := k.list(ctx, epochsDir)
		if err != nil {
			return fmt.Errorf("listing driver epochs: %w", err)
		}
		var top int64
		for _, key := range keys {
			if e, ok := parseEpochKey(key); ok {
				top = max(top, e)
			}
		}
		e := top + 1
		body, _ := json.Marshal(map[string]any{"epoch": e, "startedAt": time.Now().UTC()})
		key := epochKey(e)
		err = k.store.Create(ctx, key, body)
		switch {
		case err == nil:
			k.conditional = true
		case errors.Is(err, checkpoint.ErrExists):
			continue // another driver took it first
		case errors.Is(err, checkpoint.ErrConditionalUnsupported):
			// Epoch-scoped names: a claim of its own, and the smallest
			// name of an epoch wins it. A tie lost later is caught by the
			// fence check.
			key = epochKey(e) + "-" + nonce()
			if err := k.put(ctx, key, body); err != nil {
				return fmt.Errorf("claiming driver epoch %d: %w", e, err)
			}
			if by, fenced, err := k.newerEpoch(ctx, e, key); err != nil {
				return err
			} else if fenced && by == e {
				continue
			}
		default:
			return fmt.Errorf("claiming driver epoch %d: %w", e, err)
		}
		k.epoch, k.epochKey = e, key
		k.mu.Lock()
		k.status.Epoch = e
		k.mu.Unlock()
		k.log.Info("driver epoch claimed", "epoch", e, "conditionalWrites", k.conditional)
		return nil
	}
}

// newerEpoch reports whether a claim newer than (epoch, key) exists.
func (k *checkpointer) newerEpoch(ctx context.Context, epoch int64, key string) (int64, bool, error) {
	keys, err := k.store.List(ctx, epochsDir)
	if err != nil {
		return 0, false, fmt.Errorf("listing driver epochs: %w", err)
	}
	for _, other := range keys {
		e, ok := parseEpochKey(other)
		if ok && (e > epoch || e == epoch && other < key) {
			return e, true, nil
		}
	}
	return 0, false, nil
}

// checkFence fails with ErrFenced once a newer driver has claimed an epoch.
// It runs before every batch's outputs commit; with outputs that commit
// idempotently (deterministic names, conditional commit markers) the only
// commit a replaced driver can still make is one identical to its
// successor's.
func (k *checkpointer) checkFence(ctx context.Context) error {
	by, fenced, err := k.newerEpoch(ctx, k.epoch, k.epochKey)
	if err != nil || !fenced {
		return err
	}
	k.mu.Lock()
	k.status.Fenced = true
	k.mu.Unlock()
	return fmt.Errorf("%w: this driver has epoch %d, a driver with epoch %d started since", ErrFenced, k.epoch, by)
}

// guardCommit checks the fence before a batch commits, waiting out store
// failures: it returns ErrFenced, or nil.
func (k *checkpointer) guardCommit(ctx context.Context) error {
	var fenced error
	err := k.retry(ctx, "checking the driver epoch", func() error {
		err := k.checkFence(ctx)
		if errors.Is(err, ErrFenced) {
			fenced = err
			return nil
		}
		return err
	})
	if fenced != nil {
		return fenced
	}
	return err
}

// close ends checkpointing when the context stops. After a graceful stop
// it writes a last data checkpoint at the newest committed batch, so a
// restart recomputes nothing; either way it waits for the one in flight.
func (k *checkpointer) close(graceful bool, committed Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k.mu.Lock()
	needed := graceful && !k.status.Fenced && committed > k.c.zeroTime && (k.data == nil || k.data.Time < committed)
	k.mu.Unlock()
	k.pending.Wait()
	savepoint := graceful && !k.fenced()
	defer func() { k.closeSavepoint(ctx, savepoint) }()
	if !needed {
		return
	}
	k.startData(ctx, committed)
	k.pending.Wait()
	if _, err := k.writeMetadata(ctx, committed, false); err != nil {
		k.log.Warn("writing the last metadata checkpoint", "error", err)
		savepoint = false // not of an older state than the stop's
	}
}

func (k *checkpointer) fenced() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status.Fenced
}

// plansNeededAfter is the batch time after which sources must keep their
// plans: a recovering driver recomputes from the newest data checkpoint.
func (k *checkpointer) plansNeededAfter() Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.data != nil {
		return k.data.Time
	}
	return k.c.zeroTime
}

// dataDue reports whether a data checkpoint is taken after batch t.
func (k *checkpointer) dataDue(t Time) bool {
	return t.Sub(k.c.zeroTime)%k.cfg.Interval == 0
}

// committed is called after batch t's outputs commit: it starts a data
// checkpoint when one is due, and has the metadata checkpoint written. The
// last batch of a finished run waits for both.
func (k *checkpointer) committed(ctx context.Context, t Time, finished bool) error {
	if finished || k.dataDue(t) {
		k.startData(ctx, t)
	}
	k.takeSavepoints(ctx, t)
	if finished {
		k.pending.Wait() // the final state, and earlier metadata, first
		_, err := k.writeMetadata(ctx, t, true)
		return err
	}
	return k.queueMetadata(ctx, t)
}

// queueMetadata has the metadata checkpoint of batch t written in the
// background, after the one being written: the next batch commits
// meanwhile, off the store's latency, and of the batches that commit during
// one write only the newest is written. A driver that dies before the write
// lands is recovered from the one before, and recomputes a batch or two
// more; outputs are idempotent. A write that fails for good fails the next
// batch's commit; while the store is unavailable the writer retries, and
// the fence check before each commit stalls the job.
func (k *checkpointer) queueMetadata(ctx context.Context, t Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.metaErr != nil {
		return k.metaErr
	}
	k.metaQueued, k.queued = t, true
	if k.metaWriting {
		return nil
	}
	k.metaWriting = true
	k.pending.Add(1)
	go func() {
		defer k.pending.Done()
		for {
			k.mu.Lock()
			t, more := k.metaQueued, k.queued
			k.queued = false
			if !more {
				k.metaWriting = false
				k.mu.Unlock()
				return
			}
			k.mu.Unlock()
			if _, err := k.writeMetadata(ctx, t, false); err != nil {
				k.mu.Lock()
				if ctx.Err() == nil {
					k.metaErr = err
				}
				k.metaWriting, k.queued = false, false
				k.mu.Unlock()
				return
			}
		}
	}()
	return nil
}

// writeMetadata writes the metadata checkpoint of batch t and returns its key.
func (k *checkpointer) writeMetadata(ctx context.Context, t Time, finished bool) (string, error) {
	c := k.c
	k.writingMeta.Lock()
	defer k.writingMeta.Unlock()
	k.mu.Lock()
	data := k.data
	k.mu.Unlock()
	after := c.zeroTime
	if data != nil {
		after = data.Time
	}
	md := metadataCheckpoint{Format: checkpointFormat, Epoch: k.epoch, Graph: k.graph, ZeroTime: c.zeroTime,
		Committed: t, Finished: finished, Data: data, WrittenAt: time.Now().UTC(), Lineage: k.lineage}
	// The plans and positions of all sources are read at one batch
	// boundary: the batch clock holds planMu while it plans a batch.
	c.planMu.Lock()
	md.PlannedThrough = c.plannedThrough
	for _, in := range c.inputs {
		sc := sourceCheckpoint{Stream: in.info().name, Op: in.info().spec.Op, Replayable: in.replayable()}
		sc.Position, sc.Plans = in.savedPlans(after)
		md.Sources = append(md.Sources, sc)
	}
	c.planMu.Unlock()
	body, err := json.Marshal(md)
	if err != nil {
		return "", fmt.Errorf("encoding the metadata checkpoint of batch %s: %w", t, err)
	}
	key := metadataKey(t, k.epoch, data)
	err = k.retry(ctx, "writing metadata checkpoint "+key, func() error {
		err := k.write(ctx, key, body)
		if errors.Is(err, checkpoint.ErrExists) {
			return nil // an earlier attempt wrote it; the answer was lost
		}
		return err
	})
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	if t >= k.status.MetadataTime {
		k.status.Metadata, k.status.MetadataTime = key, t
	}
	k.mu.Unlock()
	return key, nil
}

// write creates an object under a name only this driver uses: with
// conditional writes, even a mistaken second writer could not replace it.
func (k *checkpointer) write(ctx context.Context, key string, data []byte) error {
	if k.conditional {
		return k.store.Create(ctx, key, data)
	}
	return k.store.Put(ctx, key, data)
}

// get, list and put wait out an unavailable store (see retry): a store
// that is restarting must not make recovery skip a good checkpoint as
// unreadable, nor fail a data checkpoint.
func (k *checkpointer) get(ctx context.Context, key string) (data []byte, err error) {
	err = k.retry(ctx, "reading a checkpoint", func() error {
		data, err = k.store.Get(ctx, key)
		return err
	})
	return data, err
}

func (k *checkpointer) list(ctx context.Context, prefix string) (keys []string, err error) {
	err = k.retry(ctx, "listing checkpoints", func() error {
		keys, err = k.store.List(ctx, prefix)
		return err
	})
	return keys, err
}

func (k *checkpointer) put(ctx context.Context, key string, data []byte) error {
	return k.retry(ctx, "writing a checkpoint", func() error { return k.store.Put(ctx, key, data) })
}

// retry runs op as retryStore does, and shows a failure in the status
// until an attempt succeeds.
func (k *checkpointer) retry(ctx context.Context, what string, op func() error) error {
	return retryStore(ctx, k.log, what, op, k.reportStore(what))
}

// reportStore shows an object store's outage in the status, and its end.
func (k *checkpointer) reportStore(what string) func(error) {
	return func(err error) {
		k.mu.Lock()
		defer k.mu.Unlock()
		if err == nil {
			k.status.StoreError = ""
		} else {
			k.status.StoreError = fmt.Sprintf("%s: %v", what, err)
		}
	}
}

// storeReport is how an output or a source shows its store's outage: in
// the checkpoint status, when the job checkpoints.
func (c *Context) storeReport(what string) func(error) {
	if c.ckpt == nil {
		return nil
	}
	return c.ckpt.reportStore(what)
}

// pinnedBatch is one batch of a checkpointed stream, ready to encode.
type pinnedBatch struct {
	time   Time
	blocks [][]func() ([]byte, error) // [task][bucket]
}

type pinnedStream struct {
	saved   savedStream
	batches []pinnedBatch
}

// startData takes a data checkpoint of batch t: it pins the remembered
// batches of every checkpointed stream now, before they are forgotten, and
// encodes and uploads them in the background. One runs at a time; a due
// checkpoint is skipped while the previous one is still uploading. The
// channel returned, nil when skipped, says how the upload went.
func (k *checkpointer) startData(ctx context.Context, t Time) <-chan error {
	k.mu.Lock()
	if k.saving {
		k.mu.Unlock()
		k.log.Warn("data checkpoint skipped: the previous one is still being written", "batchTime", int64(t))
		return nil
	}
	k.saving = true
	k.mu.Unlock()
	streams, err := k.pin(ctx, t)
	if err != nil {
		k.log.Warn("data checkpoint skipped", "batchTime", int64(t), "error", err)
		k.mu.Lock()
		k.saving = false
		k.mu.Unlock()
		return nil
	}
	written := make(chan error, 1)
	k.pending.Add(1)
	go func() {
		defer k.pending.Done()
		// The upload outlives a stopping run: close waits for it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		ref := dataRef{Time: t, Epoch: k.epoch}
		start := time.Now()
		err := k.upload(ctx, ref, streams)
		k.mu.Lock()
		k.saving = false
		if err == nil && (k.data == nil || t > k.data.Time) {
			k.data = &ref
			k.status.Data, k.status.DataTime = ref.prefix(), t
		}
		k.mu.Unlock()
		written <- err
		if err != nil {
			k.log.Warn("data checkpoint failed; the next one will be tried at its interval", "batchTime", int64(t), "error", err)
			return
		}
		k.log.Info("data checkpoint written", "batchTime", int64(t), "streams", len(streams), "took", time.Since(start))
		if err := k.prune(ctx); err != nil {
			k.log.Warn("deleting old checkpoints", "error", err)
		}
	}()
	return written
}

func (k *checkpointer) pin(ctx context.Context, t Time) ([]pinnedStream, error) {
	c := k.c
	var out []pinnedStream
	for _, n := range c.nodes {
		in := n.info()
		if !in.checkpointed {
			continue
		}
		ps := pinnedStream{saved: savedStream{Name: in.savedAs, Op: in.spec.Op, Type: in.saver.blockType()}}
		for bt := t; bt > t.Add(-in.remember) && bt > c.zeroTime; bt = bt.Add(-c.cfg.BatchInterval) {
			if !in.validTime(bt) {
				continue
			}
			st, keyParts, err := in.saver.pin(ctx, bt)
			if err != nil {
				return nil, fmt.Errorf("stream %q, batch %s: %w", in.savedAs, bt, err)
			}
			if st == nil {
				continue
			}
			ps.saved.KeyParts, ps.saved.Buckets = keyParts, max(st.buckets, 1)
			pb := pinnedBatch{time: bt, blocks: make([][]func() ([]byte, error), st.tasks)}
			for task := range pb.blocks {
				for b := 0; b < ps.saved.Buckets; b++ {
					enc, err := c.pinnedBlock(ctx, BlockID{Stage: st.key, Task: task, Bucket: b})
					if err != nil {
						return nil, fmt.Errorf("stream %q, batch %s: %w", in.savedAs, bt, err)
					}
					pb.blocks[task] = append(pb.blocks[task], enc)
				}
			}
			ps.batches = append(ps.batches, pb)
		}
		out = append(out, ps)
	}
	return out, nil
}

// upload writes a data checkpoint's objects, then its manifest.
func (k *checkpointer) upload(ctx context.Context, ref dataRef, streams []pinnedStream) error {
	man := dataManifest{Format: checkpointFormat, Time: ref.Time, Epoch: ref.Epoch}
	for _, ps := range streams {
		saved := ps.saved
		for _, pb := range ps.batches {
			sb := savedBatch{Time: pb.time}
			for task, buckets := range pb.blocks {
				for b, enc := range buckets {
					data, err := enc()
					if err != nil {
						return fmt.Errorf("encoding stream %q, batch %s, partition %d: %w", saved.Name, pb.time, task, err)
					}
					key := fmt.Sprintf("%s%s/%016d-%d-%d", ref.prefix(), url.PathEscape(saved.Name), int64(pb.time), task, b)
					if err := k.put(ctx, key, data); err != nil {
						return err
					}
					sum := sha256.Sum256(data)
					sb.Objects = append(sb.Objects, savedObject{Key: key, Size: len(data), SHA256: hex.EncodeToString(sum[:])})
				}
			}
			saved.Batches = append(saved.Batches, sb)
		}
		man.Streams = append(man.Streams, saved)
	}
	body, err := json.Marshal(man)
	if err != nil {
		return err
	}
	return k.write(ctx, ref.prefix()+dataManifestName, body)
}

// prune keeps the newest Retain data checkpoints and the newest Retain
// metadata checkpoints, plus, for each kept data checkpoint, the newest
// metadata checkpoint that refers to it: what recovery falls back to when a
// newer one is unreadable. Everything else goes.
func (k *checkpointer) prune(ctx context.Context) error {
	dataKeys, err := k.store.List(ctx, dataDir)
	if err != nil {
		return err
	}
	complete := map[string]bool{}
	objects := map[string][]string{}
	for _, key := range dataKeys {
		name, rest, _ := strings.Cut(strings.TrimPrefix(key, dataDir), "/")
		objects[name] = append(objects[name], key)
		if rest == dataManifestName {
			complete[name] = true
		}
	}
	names := make([]string, 0, len(complete))
	for name := range complete {
		names = append(names, name)
	}
	slices.Sort(names)
	slices.Reverse(names) // fixed-width names: newest first
	keepData := map[string]bool{}
	for _, name := range names[:min(len(names), k.cfg.Retain)] {
		keepData[name] = true
	}
	newestComplete := ""
	if len(names) > 0 {
		newestComplete = names[0]
	}
	k.writingMeta.Lock()
	metaKeys, err := k.store.List(ctx, metadataDir)
	k.writingMeta.Unlock()
	if err != nil {
		return err
	}
	var metas []metadataName
	for _, key := range metaKeys {
		if m, ok := parseMetadataKey(key); ok {
			metas = append(metas, m)
		}
	}
	slices.SortFunc(metas, newestFirst)
	referenced := map[string]bool{}
	var drop []string // metadata first: none may outlive its data
	kept := 0
	for _, m := range metas {
		// Data newer than the newest complete one listed was completed
		// since (another data checkpoint may run while this prunes).
		usable := keepData[m.data] || m.data == "none" || m.data > newestComplete
		if usable && (kept < k.cfg.Retain || !referenced[m.data]) {
			kept++
			referenced[m.data] = true
			continue
		}
		drop = append(drop, m.key)
	}
	for name, keys := range objects {
		// An incomplete checkpoint newer than the newest complete one may
		// still be being written.
		if keepData[name] || !complete[name] && name > newestComplete {
			continue
		}
		drop = append(drop, keys...)
	}
	for _, key := range drop {
		if err := k.store.Delete(ctx, key); err != nil {
			return fmt.Errorf("deleting %s: %w", key, err)
		}
	}
	// No recovery goes back past the oldest data checkpoint kept: the
	// write-ahead logs of the batches through it can go.
	if kept := names[:min(len(names), k.cfg.Retain)]; len(kept) > 0 {
		ts, _, _ := strings.Cut(kept[len(kept)-1], "-")
		if oldest, err := strconv.ParseInt(ts, 10, 64); err == nil {
			for _, in := range k.c.inputs {
				if err := in.pruneLog(ctx, Time(oldest)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
