package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FileStreamOptions configure TextFileStream.
type FileStreamOptions struct {
	// IncludeExisting also reads the files already in the directory when
	// the context starts; by default only files that appear later are read.
	IncludeExisting bool
	// Once reads the files present at start in the first batch and then
	// ends: a bounded source, for running a pipeline as a batch job. It
	// implies IncludeExisting.
	Once bool
	// Pattern, if set, is a filepath.Match pattern that file names must match.
	Pattern string
	// RememberWindow is how long a seen file is remembered; files modified
	// before that window are ignored. Zero means one minute.
	RememberWindow time.Duration
}

// TextFileStream returns a stream of the lines of the new files in dir: each
// batch reads the files that appeared since the previous batch, one partition
// per file. Files must be complete when they appear: write them elsewhere and
// move them in. Names starting with "." or "_" are ignored, so a writer may
// use them for files in progress.
func TextFileStream(c *Context, dir string, opts FileStreamOptions) Stream[string] {
	params := map[string]string{
		"dir":             dir,
		"includeExisting": strconv.FormatBool(opts.IncludeExisting),
		"once":            strconv.FormatBool(opts.Once),
		"pattern":         opts.Pattern,
		"rememberWindow":  opts.RememberWindow.String(),
	}
	return addStream(c, NodeSpec{Op: "textFiles", Params: params}, nil, nil, nil, func(b *builder) (streamNode[string], error) {
		o := FileStreamOptions{Pattern: b.spec.param("pattern")}
		var err error
		if o.IncludeExisting, err = strconv.ParseBool(b.spec.param("includeExisting")); err != nil {
			return nil, fmt.Errorf("parameter includeExisting: %w", err)
		}
		if o.Once, err = strconv.ParseBool(b.spec.param("once")); err != nil {
			return nil, fmt.Errorf("parameter once: %w", err)
		}
		if o.RememberWindow, err = b.spec.durationParam("rememberWindow"); err != nil {
			return nil, err
		}
		if o.Pattern != "" {
			if _, err := filepath.Match(o.Pattern, ""); err != nil {
				return nil, fmt.Errorf("pattern %q: %w", o.Pattern, err)
			}
		}
		if o.RememberWindow <= 0 {
			o.RememberWindow = time.Minute
		}
		return newInputStream[string](&fileSource{dir: b.spec.param("dir"), opts: o}), nil
	})
}

type fileSource struct {
	dir      string
	opts     FileStreamOptions
	seen     map[string]time.Time // path -> modification time
	startAt  time.Time
	planned  bool
	finished bool
}

func (s *fileSource) Open(context.Context) error {
	st, err := os.Stat(s.dir)
	if err != nil {
		return fmt.Errorf("file source directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("file source %s is not a directory", s.dir)
	}
	s.seen = map[string]time.Time{}
	s.startAt = time.Now()
	if !s.opts.IncludeExisting && !s.opts.Once {
		files, err := s.list()
		if err != nil {
			return err
		}
		for path, mod := range files {
			s.seen[path] = mod
		}
	}
	return nil
}

func (s *fileSource) Close() error    { return nil }
func (s *fileSource) Exhausted() bool { return s.finished }

func (s *fileSource) list() (map[string]time.Time, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", s.dir, err)
	}
	out := map[string]time.Time{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || !e.Type().IsRegular() {
			continue
		}
		if s.opts.Pattern != "" {
			if ok, _ := filepath.Match(s.opts.Pattern, name); !ok {
				continue
			}
		}
		info, err := e.Info()
		if err != nil {
			continue // removed between listing and stat
		}
		out[filepath.Join(s.dir, name)] = info.ModTime()
	}
	return out, nil
}

func (s *fileSource) Plan(context.Context, Time) (Input[string], error) {
	if s.finished {
		return fileInput(nil), nil
	}
	files, err := s.list()
	if err != nil {
		return nil, err
	}
	horizon := time.Now().Add(-s.opts.RememberWindow)
	var fresh []string
	for path, mod := range files {
		if _, ok := s.seen[path]; ok {
			continue
		}
		// A file older than the window that was not seen before can only be
		// one the window already forgot: reading it would read it twice.
		if mod.Before(horizon) && s.planned && !s.opts.Once {
			continue
		}
		fresh = append(fresh, path)
		s.seen[path] = mod
	}
	for path, mod := range s.seen {
		if mod.Before(horizon) {
			delete(s.seen, path)
		}
	}
	sort.Strings(fresh)
	s.planned = true
	if s.opts.Once {
		s.finished = true
	}
	return fileInput(fresh), nil
}

// A directory source is replayable: its position is the set of files it
// has seen, and a plan is a list of files, which must still exist when a
// recovered driver reads them again.

type fileSourcePosition struct {
	// Seen maps each remembered path to its modification time (Unix ns).
	Seen     map[string]int64 `json:"seen"`
	Planned  bool             `json:"planned,omitempty"`
	Finished bool             `json:"finished,omitempty"`
}

func (s *fileSource) Position() ([]byte, error) {
	p := fileSourcePosition{Seen: make(map[string]int64, len(s.seen)), Planned: s.planned, Finished: s.finished}
	for path, mod := range s.seen {
		p.Seen[path] = mod.UnixNano()
	}
	return json.Marshal(p)
}

func (s *fileSource) Restore(position []byte) error {
	var p fileSourcePosition
	if err := json.Unmarshal(position, &p); err != nil {
		return fmt.Errorf("directory source position: %w", err)
	}
	s.seen = make(map[string]time.Time, len(p.Seen))
	for path, ns := range p.Seen {
		s.seen[path] = time.Unix(0, ns)
	}
	s.planned, s.finished = p.Planned, p.Finished
	return nil
}

func (s *fileSource) EncodeInput(in Input[string]) ([]byte, error) { return encodeFileInput(in) }
func (s *fileSource) DecodeInput(data []byte) (Input[string], error) {
	return decodeFileInput(data)
}

func encodeFileInput(in Input[string]) ([]byte, error) {
	files, ok := in.(fileInput)
	if !ok {
		return nil, fmt.Errorf("file input of type %T", in)
	}
	return json.Marshal([]string(files))
}

func decodeFileInput(data []byte) (Input[string], error) {
	var files []string
	if err := json.Unmarshal(data, &files); err != nil {
		return nil, fmt.Errorf("file plan: %w", err)
	}
	for i, f := range files {
		if f == "" {
			return nil, fmt.Errorf("file plan: path %d is empty", i)
		}
	}
	return fileInput(files), nil
}
