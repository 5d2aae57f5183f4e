package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
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
	params := fileStreamParams(opts)
	params["dir"] = dir
	return addStream(c, NodeSpec{Op: "textFiles", Params: params}, nil, nil, nil, func(b *builder) (streamNode[string], error) {
		o, err := parseFileStreamParams(b)
		if err != nil {
			return nil, err
		}
		return newInputStream[string](&fileSource{loc: localDir(b.spec.param("dir")), opts: o}), nil
	})
}

func fileStreamParams(opts FileStreamOptions) map[string]string {
	return map[string]string{
		"includeExisting": strconv.FormatBool(opts.IncludeExisting),
		"once":            strconv.FormatBool(opts.Once),
		"pattern":         opts.Pattern,
		"rememberWindow":  opts.RememberWindow.String(),
	}
}

func parseFileStreamParams(b *builder) (FileStreamOptions, error) {
	o := FileStreamOptions{Pattern: b.spec.param("pattern")}
	var err error
	if o.IncludeExisting, err = strconv.ParseBool(b.spec.param("includeExisting")); err != nil {
		return o, fmt.Errorf("parameter includeExisting: %w", err)
	}
	if o.Once, err = strconv.ParseBool(b.spec.param("once")); err != nil {
		return o, fmt.Errorf("parameter once: %w", err)
	}
	if o.RememberWindow, err = b.spec.durationParam("rememberWindow"); err != nil {
		return o, err
	}
	if o.Pattern != "" {
		if _, err := path.Match(o.Pattern, ""); err != nil {
			return o, fmt.Errorf("pattern %q: %w", o.Pattern, err)
		}
	}
	if o.RememberWindow <= 0 {
		o.RememberWindow = time.Minute
	}
	return o, nil
}

// fileLocation is what a directory source watches: a local directory or
// an object-store prefix.
type fileLocation interface {
	// open checks that the location can be listed.
	open(ctx context.Context) error
	// list returns every file's name and modification time.
	list(ctx context.Context) (map[string]time.Time, error)
	// input reads the named files, one partition each.
	input(names []string) Input[string]
}

type fileSource struct {
	loc      fileLocation
	opts     FileStreamOptions
	seen     map[string]time.Time // name -> modification time
	planned  bool
	finished bool
}

func (s *fileSource) Open(ctx context.Context) error {
	if err := s.loc.open(ctx); err != nil {
		return err
	}
	s.seen = map[string]time.Time{}
	if !s.opts.IncludeExisting && !s.opts.Once {
		files, err := s.list(ctx)
		if err != nil {
			return err
		}
		for name, mod := range files {
			s.seen[name] = mod
		}
	}
	return nil
}

func (s *fileSource) Close() error    { return nil }
func (s *fileSource) Exhausted() bool { return s.finished }

// list returns the files the source reads: names starting with "." or "_"
// are files in progress, and Pattern selects by name.
func (s *fileSource) list(ctx context.Context) (map[string]time.Time, error) {
	files, err := s.loc.list(ctx)
	if err != nil {
		return nil, err
	}
	for name := range files {
		base := path.Base(filepath.ToSlash(name))
		skip := strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")
		if s.opts.Pattern != "" {
			if ok, _ := path.Match(s.opts.Pattern, base); !ok {
				skip = true
			}
		}
		if skip {
			delete(files, name)
		}
	}
	return files, nil
}

func (s *fileSource) Plan(ctx context.Context, _ Time) (Input[string], error) {
	if s.finished {
		return s.loc.input(nil), nil
	}
	files, err := s.list(ctx)
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
	return s.loc.input(fresh), nil
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
	names, err := decodeFileNames(data)
	if err != nil {
		return nil, err
	}
	return s.loc.input(names), nil
}

// namedFiles is an input that reads named files: its plan is their names.
type namedFiles interface{ fileNames() []string }

func encodeFileInput(in Input[string]) ([]byte, error) {
	files, ok := in.(namedFiles)
	if !ok {
		return nil, fmt.Errorf("file input of type %T", in)
	}
	return json.Marshal(files.fileNames())
}

func decodeFileNames(data []byte) ([]string, error) {
	var files []string
	if err := json.Unmarshal(data, &files); err != nil {
		return nil, fmt.Errorf("file plan: %w", err)
	}
	for i, f := range files {
		if f == "" {
			return nil, fmt.Errorf("file plan: path %d is empty", i)
		}
	}
	return files, nil
}

// localDir is a directory of the local file system.
type localDir string

func (d localDir) open(context.Context) error {
	st, err := os.Stat(string(d))
	if err != nil {
		return fmt.Errorf("file source directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("file source %s is not a directory", d)
	}
	return nil
}

func (d localDir) list(context.Context) (map[string]time.Time, error) {
	entries, err := os.ReadDir(string(d))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", d, err)
	}
	out := map[string]time.Time{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed between listing and stat
		}
		out[filepath.Join(string(d), e.Name())] = info.ModTime()
	}
	return out, nil
}

func (d localDir) input(names []string) Input[string] { return fileInput(names) }
