package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// recovered is the checkpoint a driver starts from.
type recovered struct {
	key  string
	meta metadataCheckpoint
	data *loadedData
}

// loadedData is a data checkpoint read back and verified.
type loadedData struct {
	manifest dataManifest
	objects  map[string][]byte
}

// recover claims this driver's epoch and finds the newest checkpoint that
// reads back whole: a metadata checkpoint that decodes, whose data
// checkpoint is complete and matches its checksums. Newer checkpoints that
// do not are skipped, logged and listed in the status; recovery never
// starts from empty when checkpoints exist but none can be read. It returns
// nil when there is nothing to recover: no checkpoint, or a finished run.
// A Restore not yet done replaces the job's checkpoints first.
func (k *checkpointer) recover(ctx context.Context) (*recovered, error) {
	if k.cfg.Discard {
		if err := k.deleteAll(ctx, "the user asked to start from empty"); err != nil {
			return nil, err
		}
	}
	if err := k.claimEpoch(ctx); err != nil {
		return nil, err
	}
	k.graph = k.c.Describe()
	rec, err := k.newestReadable(ctx, k.store)
	if r := k.cfg.Restore; r != nil && (rec == nil || rec.meta.Lineage != r.ID) {
		// Unreadable checkpoints do not stop a restore: it replaces them.
		if err := k.restoreInto(ctx, r); err != nil {
			return nil, err
		}
		k.lineage = r.ID
		if r.From == nil {
			return nil, nil
		}
		if rec, err = k.newestReadable(ctx, k.store); err == nil && rec == nil {
			err = errors.New("the restored checkpoint is gone")
		}
	}
	if err != nil || rec == nil {
		return nil, err
	}
	k.lineage = rec.meta.Lineage
	if rec.meta.Finished && len(k.status.Skipped) == 0 {
		// A bounded run that ended: running the job again starts a new run.
		return nil, k.deleteAll(ctx, "the previous run finished")
	}
	k.mu.Lock()
	k.status.RecoveredFrom = rec.key
	k.data = rec.meta.Data
	if rec.meta.Data != nil {
		k.status.Data, k.status.DataTime = rec.meta.Data.prefix(), rec.meta.Data.Time
	}
	k.mu.Unlock()
	return rec, nil
}

// newestReadable returns the newest checkpoint at store that reads back
// whole, or nil when there is none; checkpoints skipped on the way are
// logged and listed in the status.
func (k *checkpointer) newestReadable(ctx context.Context, store checkpoint.Store) (*recovered, error) {
	keys, err := k.listFrom(ctx, store, metadataDir)
	if err != nil {
		return nil, fmt.Errorf("listing metadata checkpoints: %w", err)
	}
	var metas []metadataName
	for _, key := range keys {
		if m, ok := parseMetadataKey(key); ok {
			metas = append(metas, m)
		}
	}
	if len(metas) == 0 {
		k.log.Info("no checkpoint yet: starting from empty", "location", store.String())
		return nil, nil
	}
	slices.SortFunc(metas, newestFirst)
	badData := map[string]error{}
	var skipped []string
	skip := func(key string, err error) {
		k.log.Error("checkpoint unreadable; falling back to an older one", "key", key, "error", err)
		skipped = append(skipped, fmt.Sprintf("%s: %v", key, err))
	}
	defer func() {
		k.mu.Lock()
		k.status.Skipped = skipped
		k.mu.Unlock()
	}()
	for _, m := range metas {
		md, err := k.readMetadata(ctx, store, m.key)
		if err != nil {
			skip(m.key, err)
			continue
		}
		rec := &recovered{key: m.key, meta: md}
		if md.Data != nil {
			name := md.Data.name()
			if err, bad := badData[name]; bad {
				skip(m.key, err)
				continue
			}
			if rec.data, err = k.readData(ctx, store, *md.Data); err != nil {
				err = fmt.Errorf("its data checkpoint %s: %w", md.Data.prefix(), err)
				badData[name] = err
				skip(m.key, err)
				continue
			}
		}
		return rec, nil
	}
	return nil, fmt.Errorf("no checkpoint at %s can be read, so the job cannot resume; "+
		"to start it from empty, discard the checkpoints explicitly. Unreadable: %s", store, strings.Join(skipped, "; "))
}

func (k *checkpointer) readMetadata(ctx context.Context, store checkpoint.Store, key string) (metadataCheckpoint, error) {
	var md metadataCheckpoint
	body, err := k.getFrom(ctx, store, key)
	if err != nil {
		return md, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&md); err != nil {
		return md, fmt.Errorf("decoding: %w", err)
	}
	if md.Format != checkpointFormat {
		return md, fmt.Errorf("format %d, this driver reads format %d", md.Format, checkpointFormat)
	}
	if md.Graph.BatchInterval <= 0 || md.PlannedThrough < md.Committed {
		return md, errors.New("inconsistent: no batch interval, or planned before committed")
	}
	return md, nil
}

func (k *checkpointer) readData(ctx context.Context, store checkpoint.Store, ref dataRef) (*loadedData, error) {
	body, err := k.getFrom(ctx, store, ref.prefix()+dataManifestName)
	if err != nil {
		return nil, err
	}
	ld := &loadedData{objects: map[string][]byte{}}
	if err := json.Unmarshal(body, &ld.manifest); err != nil {
		return nil, fmt.Errorf("decoding its manifest: %w", err)
	}
	for _, s := range ld.manifest.Streams {
		for _, b := range s.Batches {
			if s.Buckets < 1 || len(b.Objects)%s.Buckets != 0 {
				return nil, fmt.Errorf("stream %q, batch %s: %d objects for %d buckets", s.Name, b.Time, len(b.Objects), s.Buckets)
			}
			for _, o := range b.Objects {
				data, err := k.getFrom(ctx, store, o.Key)
				if err != nil {
					return nil, fmt.Errorf("stream %q, batch %s: %w", s.Name, b.Time, err)
				}
				sum := sha256.Sum256(data)
				if len(data) != o.Size || hex.EncodeToString(sum[:]) != o.SHA256 {
					return nil, fmt.Errorf("stream %q, batch %s: object %s is corrupt (%d bytes, want %d, or its checksum differs)",
						s.Name, b.Time, o.Key, len(data), o.Size)
				}
				ld.objects[o.Key] = data
			}
		}
	}
	return ld, nil
}

// deleteAll removes every metadata and data checkpoint; epochs stay, so
// that a later driver still fences this one.
func (k *checkpointer) deleteAll(ctx context.Context, why string) error {
	return k.deleteDirs(ctx, why, []string{metadataDir, dataDir, walDir})
}

func (k *checkpointer) deleteDirs(ctx context.Context, why string, dirs []string) error {
	k.log.Info("deleting the checkpoints", "reason", why, "dirs", dirs)
	for _, dir := range dirs {
		keys, err := k.store.List(ctx, dir)
		if err != nil {
			return fmt.Errorf("listing %s: %w", dir, err)
		}
		for _, key := range keys {
			if err := k.store.Delete(ctx, key); err != nil {
				return fmt.Errorf("deleting %s: %w", key, err)
			}
		}
	}
	return nil
}

// restore puts the context where the checkpoint left the job: the batch
// times, each source's position and plans, and the saved batches of every
// checkpointed stream. The sources are open. It returns the batches that
// were cut but not committed, in order, for the caller to queue.
func (c *Context) restore(rec *recovered) ([]Time, error) {
	md := rec.meta
	if md.Graph.BatchInterval != c.cfg.BatchInterval {
		return nil, fmt.Errorf("the checkpoint was written with batch interval %s and the job now has %s: batch times cannot be mapped",
			md.Graph.BatchInterval, c.cfg.BatchInterval)
	}
	from := c.zeroTime
	if md.Data != nil {
		from = md.Data.Time
	}
	var replay []Time // batches after the data checkpoint, cut before the crash
	for t := from.Add(c.cfg.BatchInterval); t <= md.PlannedThrough; t = t.Add(c.cfg.BatchInterval) {
		replay = append(replay, t)
	}
	saved := map[string]sourceCheckpoint{}
	for _, sc := range md.Sources {
		saved[sc.Stream] = sc
	}
	for _, in := range c.inputs {
		name := in.info().name
		sc, ok := saved[name]
		switch {
		case !ok:
			c.log.Warn("source is new since the checkpoint: it starts now", "stream", name)
		case sc.Op != in.info().spec.Op:
			return nil, fmt.Errorf("source %q was a %s source in the checkpoint and is a %s source now: its position cannot be carried over",
				name, sc.Op, in.info().spec.Op)
		case !in.replayable() && len(replay) > 0:
			c.log.Warn("source is not replayable: what it received for the batches since the data checkpoint is lost, "+
				"from state and from the batches not yet committed", "stream", name, "batches", len(replay))
		}
		if err := in.restorePlans(sc.Position, sc.Plans, replay); err != nil {
			return nil, fmt.Errorf("source %q: %w", name, err)
		}
	}
	if err := c.restoreData(rec.data, from); err != nil {
		return nil, err
	}
	c.metrics.restoreCommitted(md.Committed, from)
	var pending []Time
	for _, t := range replay {
		if t > md.Committed {
			pending = append(pending, t)
		}
	}
	c.log.Info("recovered from checkpoint", "key", rec.key, "committed", int64(md.Committed),
		"pending", len(pending), "recomputed", len(replay)-len(pending))
	return pending, nil
}

// restoreData installs the saved batches of each checkpointed stream, by
// name. A stream whose types or partitioning changed is an error naming it.
func (c *Context) restoreData(ld *loadedData, at Time) error {
	byName := map[string]*savedStream{}
	if ld != nil {
		for i := range ld.manifest.Streams {
			byName[ld.manifest.Streams[i].Name] = &ld.manifest.Streams[i]
		}
	}
	var added []string
	for _, n := range c.nodes {
		in := n.info()
		if !in.checkpointed {
			continue
		}
		s, ok := byName[in.savedAs]
		delete(byName, in.savedAs)
		if !ok {
			if ld != nil { // without a data checkpoint everything is recomputed from the first batch
				added = append(added, in.savedAs)
			}
			continue
		}
		if want := in.saver.blockType(); s.Type != want {
			return fmt.Errorf("stream %q: the checkpoint holds %s and the job now computes %s: its state cannot be restored",
				in.savedAs, s.Type, want)
		}
		have := map[Time]bool{}
		to, rescale := rescaled(n, s)
		for _, b := range s.Batches {
			if len(b.Objects) == 0 {
				continue
			}
			parts := len(b.Objects) / s.Buckets
			if s.KeyParts > 0 && parts != s.KeyParts {
				return fmt.Errorf("stream %q, batch %s: %d partitions saved, keyed by %d", in.savedAs, b.Time, parts, s.KeyParts)
			}
			blocks := make([][][]byte, parts)
			for task := range blocks {
				for bucket := 0; bucket < s.Buckets; bucket++ {
					blocks[task] = append(blocks[task], ld.objects[b.Objects[task*s.Buckets+bucket].Key])
				}
			}
			keyParts := s.KeyParts
			if rescale {
				var err error
				if blocks, err = n.(rekeyer).rekey(blocks, to); err != nil {
					return fmt.Errorf("stream %q, batch %s: re-partitioning its state from %d to %d partitions: %w",
						in.savedAs, b.Time, s.KeyParts, to, err)
				}
				keyParts = to
			}
			in.saver.restore(b.Time, c.restoredStage(in, b.Time, blocks), keyParts)
			have[b.Time] = true
		}
		if rescale && len(have) > 0 {
			c.log.Info("state re-partitioned by key", "stream", in.savedAs, "from", s.KeyParts, "to", to)
		}
		for bt := at; len(have) > 0 && bt > at.Add(-in.remember) && bt > c.zeroTime; bt = bt.Add(-c.cfg.BatchInterval) {
			if in.validTime(bt) && !have[bt] {
				return fmt.Errorf("stream %q needs its batch %s, which the checkpoint does not hold: "+
					"a window that reads it grew since the checkpoint", in.savedAs, bt)
			}
		}
	}
	var dropped []string
	for name := range byName {
		dropped = append(dropped, name)
	}
	slices.Sort(dropped)
	if len(added) > 0 {
		err := fmt.Errorf("stream %q keeps state or feeds a window, and the checkpoint holds nothing for it: "+
			"a stateful stream cannot be added to a job that resumes from a checkpoint", added[0])
		if len(dropped) > 0 {
			err = fmt.Errorf("%w (it holds the state of %q, which the job no longer keeps: was an operator changed?)", err, dropped)
		}
		return err
	}
	for _, name := range dropped {
		c.log.Warn("the checkpoint holds a stream the job no longer has; its state is dropped", "stream", name)
	}
	return nil
}

// rescaled reports whether a stream's saved keyed state must be
// re-partitioned, and into how many partitions.
func rescaled(n node, s *savedStream) (int, bool) {
	want, ok := n.(interface{ statePartitions() int })
	if _, can := n.(rekeyer); !ok || !can || s.KeyParts == 0 || want.statePartitions() == s.KeyParts {
		return 0, false
	}
	return want.statePartitions(), true
}
