package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// Savepoints and restores. A savepoint is a copy of one consistent
// checkpoint (a metadata checkpoint and the data checkpoint it refers to)
// under savepoints/<name>/ of the job's location. It is laid out as a
// checkpoint location, retention never deletes it, and a job (this one or
// another) can start from it.

// SavepointsDir holds the savepoints under a checkpoint location; deleting
// a job's checkpoints leaves it.
const SavepointsDir = "savepoints/"

// SavepointLocation is where savepoint name of a checkpoint location is:
// what spec.restoreFrom takes to start from it.
func SavepointLocation(location, name string) string {
	return strings.TrimSuffix(location, "/") + "/" + SavepointsDir + name
}

// Restore starts a job from somewhere other than its own newest checkpoint:
// from empty (From nil), or from the newest checkpoint at From (a savepoint,
// or another job's checkpoint location). It happens once per ID: the state
// that follows carries the ID in every metadata checkpoint, so a driver
// that restarts later with the same Restore resumes from its own
// checkpoints rather than going back to From.
type Restore struct {
	ID   string
	From checkpoint.Store
}

// SavepointInfo says where a savepoint went.
type SavepointInfo struct {
	Name string `json:"name"`
	// Location is the savepoint's own checkpoint location: what a job's
	// spec.restoreFrom names to start from it.
	Location string `json:"location"`
	// BatchTime is the newest batch whose outputs the savepoint includes.
	BatchTime Time `json:"batchTime"`
}

var savepointName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$`)

// validSavepointName keeps a savepoint's name a single path segment.
func validSavepointName(name string) error {
	if !savepointName.MatchString(name) {
		return fmt.Errorf("savepoint name %q: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// savepointRequest waits for the savepoint of the next committed batch.
type savepointRequest struct {
	name string
	done chan savepointResult
}

type savepointResult struct {
	info SavepointInfo
	err  error
}

// Savepoint takes a data checkpoint at the next batch to commit and copies
// it, with its metadata checkpoint, to savepoints/<name>/. It waits until
// the copy is complete; the job keeps running.
func (c *Context) Savepoint(ctx context.Context, name string) (SavepointInfo, error) {
	if c.ckpt == nil {
		return SavepointInfo{}, errors.New("the job does not checkpoint")
	}
	if err := validSavepointName(name); err != nil {
		return SavepointInfo{}, err
	}
	req := savepointRequest{name: name, done: make(chan savepointResult, 1)}
	k := c.ckpt
	k.mu.Lock()
	k.savepoints = append(k.savepoints, req)
	k.mu.Unlock()
	select {
	case r := <-req.done:
		return r.info, r.err
	case <-ctx.Done():
		return SavepointInfo{}, fmt.Errorf("savepoint %s: %w", name, ctx.Err())
	}
}

// SavepointOnStop has the next graceful stop copy its last checkpoint to
// savepoints/<name>/, once written: a stop with a savepoint, as an upgrade
// takes. Check SavepointTaken after the context has stopped.
func (c *Context) SavepointOnStop(name string) error {
	if c.ckpt == nil {
		return errors.New("the job does not checkpoint")
	}
	if err := validSavepointName(name); err != nil {
		return err
	}
	c.ckpt.mu.Lock()
	c.ckpt.stopSavepoint = name
	c.ckpt.mu.Unlock()
	return nil
}

// StopSavepoint returns the savepoint taken at the stop, or why it was not.
func (c *Context) StopSavepoint() (SavepointInfo, error) {
	if c.ckpt == nil {
		return SavepointInfo{}, errors.New("the job does not checkpoint")
	}
	c.ckpt.mu.Lock()
	defer c.ckpt.mu.Unlock()
	return c.ckpt.stopResult.info, c.ckpt.stopResult.err
}

// takeSavepoints starts the requested savepoints at batch t, which has
// just committed: a data checkpoint of t, then its metadata, then the copy.
// While another data checkpoint is being written the requests wait for the
// next batch.
func (k *checkpointer) takeSavepoints(ctx context.Context, t Time) {
	k.mu.Lock()
	reqs := k.savepoints
	k.savepoints = nil
	k.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	written := k.startData(ctx, t)
	if written == nil {
		k.mu.Lock()
		k.savepoints = append(reqs, k.savepoints...)
		k.mu.Unlock()
		return
	}
	k.pending.Add(1)
	go func() {
		defer k.pending.Done()
		ctx := context.WithoutCancel(ctx)
		var key string
		err := <-written
		if err == nil {
			key, err = k.writeMetadata(ctx, t, false)
		}
		for _, r := range reqs {
			res := savepointResult{err: err}
			if err == nil {
				res.info, res.err = k.copyAs(ctx, r.name, key, t)
			}
			if res.err != nil {
				res.err = fmt.Errorf("savepoint %s at batch %s: %w", r.name, t, res.err)
			} else {
				k.log.Info("savepoint written", "savepoint", r.name, "location", res.info.Location, "batchTime", int64(t))
			}
			r.done <- res
		}
	}()
}

// closeSavepoint, after the last checkpoint of a graceful stop, copies it
// when a savepoint on stop was asked for; pending requests fail.
func (k *checkpointer) closeSavepoint(ctx context.Context, graceful bool) {
	k.mu.Lock()
	reqs, name := k.savepoints, k.stopSavepoint
	k.savepoints = nil
	k.mu.Unlock()
	for _, r := range reqs {
		r.done <- savepointResult{err: fmt.Errorf("savepoint %s: the job stopped first", r.name)}
	}
	if name == "" {
		return
	}
	res := savepointResult{err: errors.New("the job did not stop gracefully")}
	if graceful {
		k.mu.Lock()
		key, t := k.status.Metadata, k.status.MetadataTime
		k.mu.Unlock()
		res.info, res.err = k.copyAs(ctx, name, key, t)
	}
	if res.err != nil {
		res.err = fmt.Errorf("savepoint %s on stop: %w", name, res.err)
		k.log.Error("savepoint on stop failed", "savepoint", name, "error", res.err)
	} else {
		k.log.Info("savepoint written", "savepoint", name, "location", res.info.Location, "batchTime", int64(res.info.BatchTime))
	}
	k.mu.Lock()
	k.stopResult = res
	k.mu.Unlock()
}

// copyAs copies the metadata checkpoint key, of batch t, and its data
// checkpoint to the savepoint name.
func (k *checkpointer) copyAs(ctx context.Context, name, key string, t Time) (SavepointInfo, error) {
	if key == "" {
		return SavepointInfo{}, errors.New("no checkpoint written yet: no batch has committed")
	}
	to := checkpoint.Sub(k.store, SavepointsDir+name)
	if err := k.copyCheckpoint(ctx, k.store, to, key, nil); err != nil {
		return SavepointInfo{}, err
	}
	return SavepointInfo{Name: name, Location: to.String(), BatchTime: t}, nil
}

// copyCheckpoint copies the metadata checkpoint key at from, and the data
// checkpoint it refers to, to the same keys at to; the metadata goes last,
// so that a reader of to finds the whole checkpoint or none. edit, if set,
// changes the metadata on the way.
func (k *checkpointer) copyCheckpoint(ctx context.Context, from, to checkpoint.Store, key string, edit func(*metadataCheckpoint)) error {
	body, err := k.getFrom(ctx, from, key)
	if err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	var md metadataCheckpoint
	if err := json.Unmarshal(body, &md); err != nil {
		return fmt.Errorf("decoding %s: %w", key, err)
	}
	if md.Data != nil {
		keys, err := k.listFrom(ctx, from, md.Data.prefix())
		if err != nil {
			return fmt.Errorf("listing %s: %w", md.Data.prefix(), err)
		}
		for _, dk := range keys {
			data, err := k.getFrom(ctx, from, dk)
			if err != nil {
				return fmt.Errorf("reading %s: %w", dk, err)
			}
			if err := k.retry(ctx, "copying "+dk, func() error { return to.Put(ctx, dk, data) }); err != nil {
				return fmt.Errorf("writing %s at %s: %w", dk, to, err)
			}
		}
	}
	if edit != nil {
		edit(&md)
		if body, err = json.Marshal(md); err != nil {
			return fmt.Errorf("encoding %s: %w", key, err)
		}
	}
	if err := k.retry(ctx, "copying "+key, func() error { return to.Put(ctx, key, body) }); err != nil {
		return fmt.Errorf("writing %s at %s: %w", key, to, err)
	}
	return nil
}

// restoreInto makes the job's own location start from the restore: its
// metadata and data checkpoints are deleted, and the newest readable
// checkpoint at r.From is copied in, marked with r.ID. The write-ahead log
// goes too when the restore is to empty state; a savepoint's plans may
// read it.
func (k *checkpointer) restoreInto(ctx context.Context, r *Restore) error {
	dirs := []string{metadataDir, dataDir}
	if r.From == nil {
		dirs = append(dirs, walDir)
	}
	if err := k.deleteDirs(ctx, "restoring "+restoreSource(r), dirs); err != nil {
		return err
	}
	if r.From == nil {
		return nil
	}
	rec, err := k.newestReadable(ctx, r.From)
	if err != nil {
		return fmt.Errorf("restoring from %s: %w", r.From, err)
	}
	if rec == nil {
		return fmt.Errorf("restoring from %s: there is no checkpoint there", r.From)
	}
	err = k.copyCheckpoint(ctx, r.From, k.store, rec.key, func(md *metadataCheckpoint) { md.Lineage = r.ID })
	if err != nil {
		return fmt.Errorf("restoring from %s: %w", r.From, err)
	}
	k.log.Info("restored", "from", r.From.String(), "checkpoint", rec.key, "restore", r.ID)
	return nil
}

func restoreSource(r *Restore) string {
	if r.From == nil {
		return "to empty state"
	}
	return "from " + r.From.String()
}

func (k *checkpointer) getFrom(ctx context.Context, s checkpoint.Store, key string) (data []byte, err error) {
	err = k.retry(ctx, "reading "+key, func() error {
		data, err = s.Get(ctx, key)
		return err
	})
	return data, err
}

func (k *checkpointer) listFrom(ctx context.Context, s checkpoint.Store, prefix string) (keys []string, err error) {
	err = k.retry(ctx, "listing "+prefix, func() error {
		keys, err = s.List(ctx, prefix)
		return err
	})
	return keys, err
}
