package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pipeline is a graph of named streams: sources produce records, each
// stream applies one operator to the stream it names in "from", and outputs
// write streams out. Records are JSON-like values; a key/value record (made
// by keyBy, countByValue, reduceByKey, ...) is {"key": ..., "value": ...},
// and CEL expressions see it as `key` and `value`. Every expression sees the
// whole record as `record`.
//
// +kubebuilder:validation:XValidation:rule="self.sources.all(s, !has(self.streams) || !self.streams.exists(t, t.name == s.name))",message="source and stream names must be unique"
type Pipeline struct {
	// Sources are the inputs. Each source is a stream of its own name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Sources []Source `json:"sources"`

	// Streams are the steps, each applying exactly one operator.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Streams []Stream `json:"streams,omitempty"`

	// Outputs write streams out, in the order listed, batch after batch.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Outputs []Output `json:"outputs"`
}

// Source is an input. Set exactly one kind.
//
// +kubebuilder:validation:XValidation:rule="[has(self.socket), has(self.directory), has(self.files), has(self.generator)].filter(x, x).size() == 1",message="a source sets exactly one of socket, directory, files, generator"
type Source struct {
	// Name names the source's stream.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_-]{0,62}$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Socket reads text lines from a TCP server: one line, one record.
	// +optional
	Socket *SocketSource `json:"socket,omitempty"`
	// Directory reads the lines of files that appear in a directory.
	// +optional
	Directory *DirectorySource `json:"directory,omitempty"`
	// Files reads a fixed list of files, one file per batch, then ends.
	// +optional
	Files *FilesSource `json:"files,omitempty"`
	// Generator produces rate-controlled text records, for load tests.
	// +optional
	Generator *GeneratorSource `json:"generator,omitempty"`
}

// SocketSource reads lines from host:port.
type SocketSource struct {
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// StopAtEOF ends the stream when the server closes the connection; by
	// default the source reconnects.
	// +optional
	StopAtEOF bool `json:"stopAtEOF,omitempty"`
	// WriteAheadLog writes received lines to the checkpoint location, in
	// blocks of 200 ms, before they go into a batch: lines received but not
	// yet processed survive the driver's death. On executors it needs an
	// s3:// checkpoint location, which they write to.
	// +optional
	WriteAheadLog bool `json:"writeAheadLog,omitempty"`
}

// DirectorySource reads the new files of a directory in each batch. Files
// must be complete when they appear (write elsewhere, then move them in);
// names starting with "." or "_" are ignored.
type DirectorySource struct {
	// Path is the directory, or s3://bucket/prefix for the objects under a
	// prefix, reached with spec.checkpoint's endpoint, TLS settings and
	// credentials. A new object is read in the batch that first lists it;
	// the metadata checkpoint records which, so a recovered driver reads
	// each batch's objects again. Objects must not change once written.
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path"`
	// Pattern, if set, is a glob that file names must match, such as "*.jsonl".
	// +optional
	Pattern string `json:"pattern,omitempty"`
	// IncludeExisting also reads the files present at start.
	// +optional
	IncludeExisting bool `json:"includeExisting,omitempty"`
	// Once reads the files present at start in one batch and ends the
	// stream: the job runs as a batch job.
	// +optional
	Once bool `json:"once,omitempty"`
}

// FilesSource reads each listed file as exactly one batch.
type FilesSource struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	Paths []string `json:"paths"`
}

// GeneratorSource produces text records of space-separated words.
type GeneratorSource struct {
	// RecordsPerSecond is the rate.
	// +kubebuilder:validation:Minimum=1
	RecordsPerSecond int64 `json:"recordsPerSecond"`
	// RecordSize is each record's length in bytes. Zero means 100.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1048576
	// +optional
	RecordSize int32 `json:"recordSize,omitempty"`
	// Count, if set, ends the stream after this many records.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Count int64 `json:"count,omitempty"`
	// Seed selects the records: the same seed gives the same records.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Seed int64 `json:"seed,omitempty"`
}

// Stream is one step: it applies exactly one operator to the stream named
// in from. CEL expressions are compiled and type-checked when the manifest is
// loaded.
//
// +kubebuilder:validation:XValidation:rule="[has(self.map), has(self.flatMap), has(self.filter), has(self.keyBy), has(self.mapValues), has(self.split), has(self.parseJSON), has(self.repartition), has(self.union), has(self.count), has(self.reduce), has(self.countByValue), has(self.reduceByKey), has(self.groupByKey), has(self.join), has(self.cogroup), has(self.joinStatic), has(self.window), has(self.countByWindow), has(self.reduceByWindow), has(self.countByValueAndWindow), has(self.reduceByKeyAndWindow), has(self.updateStateByKey), has(self.mapWithState)].filter(x, x).size() == 1",message="each stream applies exactly one operator"
type Stream struct {
	// Name names the stream.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_-]{0,62}$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// From names the stream (or source) this step reads.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	From string `json:"from"`
	// Partitions is the partition count of a shuffling operator (reduceByKey,
	// groupByKey, joins, windows by key, state). Zero means spec.parallelism.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4096
	// +optional
	Partitions int32 `json:"partitions,omitempty"`

	// Map replaces each record with the value of a CEL expression.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Map *string `json:"map,omitempty"`
	// FlatMap replaces each record with the elements of the list a CEL
	// expression returns, such as "record.split(' ')".
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	FlatMap *string `json:"flatMap,omitempty"`
	// Filter keeps the records for which a CEL expression is true.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Filter *string `json:"filter,omitempty"`
	// KeyBy makes key/value records.
	// +optional
	KeyBy *KeyBy `json:"keyBy,omitempty"`
	// MapValues replaces the value of each key/value record with a CEL
	// expression, keeping the key.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	MapValues *string `json:"mapValues,omitempty"`
	// Split splits each text record into words (native Go, no CEL).
	// +optional
	Split *Split `json:"split,omitempty"`
	// ParseJSON parses each text record as JSON (native Go). A record that
	// is not JSON fails its batch, naming this stream.
	// +optional
	ParseJSON *ParseJSON `json:"parseJSON,omitempty"`
	// Repartition spreads each batch over a number of partitions.
	// +optional
	Repartition *Repartition `json:"repartition,omitempty"`
	// Union merges this stream's input with other streams.
	// +optional
	Union *Union `json:"union,omitempty"`
	// Count yields one record per batch: how many records it had.
	// +optional
	Count *Count `json:"count,omitempty"`
	// Reduce yields one record per batch: its records reduced.
	// +optional
	Reduce *Reducer `json:"reduce,omitempty"`
	// CountByValue yields a key/value record per distinct record: its count.
	// +optional
	CountByValue *CountByValue `json:"countByValue,omitempty"`
	// ReduceByKey reduces the values of each key.
	// +optional
	ReduceByKey *Reducer `json:"reduceByKey,omitempty"`
	// GroupByKey collects the values of each key into a list.
	// +optional
	GroupByKey *GroupByKey `json:"groupByKey,omitempty"`
	// Join joins two keyed streams by key; the value becomes
	// {"left": ..., "right": ...}, with null for a missing side of an outer join.
	// +optional
	Join *Join `json:"join,omitempty"`
	// Cogroup groups two keyed streams by key; the value becomes
	// {"left": [...], "right": [...]}.
	// +optional
	Cogroup *Cogroup `json:"cogroup,omitempty"`
	// JoinStatic joins a keyed stream with a static dataset loaded once.
	// +optional
	JoinStatic *JoinStatic `json:"joinStatic,omitempty"`
	// Window yields, every slide, the records of the last window.
	// +optional
	Window *WindowSpec `json:"window,omitempty"`
	// CountByWindow yields, every slide, the number of records in the window.
	// +optional
	CountByWindow *WindowSpec `json:"countByWindow,omitempty"`
	// ReduceByWindow yields, every slide, the window's records reduced.
	// +optional
	ReduceByWindow *WindowedReducer `json:"reduceByWindow,omitempty"`
	// CountByValueAndWindow yields, every slide, each distinct record's count
	// in the window. It is incremental.
	// +optional
	CountByValueAndWindow *WindowSpec `json:"countByValueAndWindow,omitempty"`
	// ReduceByKeyAndWindow yields, every slide, each key's values in the
	// window reduced; with an inverse it is incremental.
	// +optional
	ReduceByKeyAndWindow *KeyedWindowedReducer `json:"reduceByKeyAndWindow,omitempty"`
	// UpdateStateByKey keeps a state per key, updated every batch for every key.
	// +optional
	UpdateStateByKey *UpdateStateByKey `json:"updateStateByKey,omitempty"`
	// MapWithState keeps a state per key, updated only for the keys present
	// in the batch, with an idle timeout.
	// +optional
	MapWithState *MapWithState `json:"mapWithState,omitempty"`
}

// KeyBy makes key/value records from CEL expressions.
type KeyBy struct {
	// Key is the key's CEL expression.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Key string `json:"key"`
	// Value is the value's CEL expression. Empty keeps the record as the value.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Value string `json:"value,omitempty"`
}

// Split splits text into words.
type Split struct {
	// Separator splits on this string. Empty splits on runs of white space.
	// +optional
	Separator string `json:"separator,omitempty"`
}

// ParseJSON parses text as JSON.
type ParseJSON struct{}

// Count counts records.
type Count struct{}

// CountByValue counts distinct records.
type CountByValue struct{}

// GroupByKey groups values by key.
type GroupByKey struct{}

// Repartition sets a partition count.
type Repartition struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4096
	Partitions int32 `json:"partitions"`
}

// Union names the other streams to merge.
type Union struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	With []string `json:"with"`
}

// Reducer merges two values into one. Set exactly one of function and
// expression. It must be associative and commutative.
//
// +kubebuilder:validation:XValidation:rule="has(self.function) != has(self.expression)",message="set exactly one of function and expression"
type Reducer struct {
	// Function is a built-in reducer, run as native Go: sum, min, max.
	// +kubebuilder:validation:Enum=sum;min;max
	// +optional
	Function string `json:"function,omitempty"`
	// Expression is a CEL expression over `a` and `b`, such as "a + b".
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Expression string `json:"expression,omitempty"`
}

// Inverse undoes a reducer: inverse(reduce(a, b), b) == a. Set exactly one
// of function and expression.
//
// +kubebuilder:validation:XValidation:rule="has(self.function) != has(self.expression)",message="set exactly one of function and expression"
type Inverse struct {
	// Function is a built-in inverse, run as native Go: subtract.
	// +kubebuilder:validation:Enum=subtract
	// +optional
	Function string `json:"function,omitempty"`
	// Expression is a CEL expression over `a` and `b`, such as "a - b".
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Expression string `json:"expression,omitempty"`
}

// JoinType is the kind of join.
// +kubebuilder:validation:Enum=inner;leftOuter;rightOuter;fullOuter
type JoinType string

// Join joins from with another keyed stream.
type Join struct {
	// With names the right-hand stream.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	With string `json:"with"`
	// Type is inner (the default), leftOuter, rightOuter or fullOuter.
	// +optional
	Type JoinType `json:"type,omitempty"`
}

// Cogroup groups from with another keyed stream.
type Cogroup struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	With string `json:"with"`
}

// JoinStatic joins each batch with a static dataset of JSON lines, loaded
// once when the job starts.
type JoinStatic struct {
	// Path is the JSON-lines file.
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path"`
	// Key is a CEL expression giving each dataset record's key, with the
	// dataset record as `record`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Key string `json:"key"`
	// Type is inner (the default) or leftOuter.
	// +kubebuilder:validation:Enum=inner;leftOuter
	// +optional
	Type JoinType `json:"type,omitempty"`
}

// WindowSpec is a sliding window.
type WindowSpec struct {
	// Window is the window's length, a multiple of batchInterval.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	Window metav1.Duration `json:"window"`
	// Slide is how often the window moves, a multiple of batchInterval.
	// Empty means the slide of the stream it reads: batchInterval, unless
	// that stream is itself a window.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Slide *metav1.Duration `json:"slide,omitempty"`
}

// WindowedReducer reduces each window.
type WindowedReducer struct {
	Reducer `json:",inline"`
	// Window is the window.
	Window WindowSpec `json:"window"`
}

// KeyedWindowedReducer reduces each key's values in each window.
type KeyedWindowedReducer struct {
	Reducer `json:",inline"`
	// Window is the window.
	Window WindowSpec `json:"window"`
	// Inverse undoes the reducer (subtract for sum), making the window
	// incremental: each slide costs the batches entering and leaving it.
	// +optional
	Inverse *Inverse `json:"inverse,omitempty"`
	// Keep is a CEL expression over `key` and `value`; keys for which it is
	// false are dropped from the window, such as "value != 0".
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Keep string `json:"keep,omitempty"`
}

// UpdateStateByKey updates every key's state every batch.
type UpdateStateByKey struct {
	// Update is a CEL expression over `values` (the batch's values for the
	// key, possibly empty) and `state` (null for a new key). It returns the
	// new state; null deletes the key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Update string `json:"update"`
}

// MapWithState updates the state of the keys present in each batch.
type MapWithState struct {
	// Update is a CEL expression over `key`, `value` (null when the key is
	// timing out), `state` (null if none) and `timingOut`. It returns the
	// new state; null removes it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Update string `json:"update"`
	// Emit is a CEL expression over the same variables plus `newState`,
	// giving the record to emit; null emits nothing, and `none` is a null
	// that fits any conditional, as in "timingOut ? {'user': key} : none".
	// Empty emits {"key": key, "value": newState}.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Emit string `json:"emit,omitempty"`
	// Timeout removes a key after this long without records, after one
	// last call with timingOut true.
	// +kubebuilder:validation:Type=string
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// InitialState is a JSON-lines file of {"key": ..., "value": ...}
	// records loaded as the state before the first batch.
	// +optional
	InitialState string `json:"initialState,omitempty"`
}

// Output writes a stream out. Set exactly one sink.
//
// +kubebuilder:validation:XValidation:rule="[has(self.print), has(self.files)].filter(x, x).size() == 1",message="an output sets exactly one of print, files"
type Output struct {
	// From names the stream to write.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	From string `json:"from"`
	// Print writes the first records of each batch to standard output.
	// +optional
	Print *PrintSink `json:"print,omitempty"`
	// Files writes each batch as a directory of JSON-lines part files,
	// named by the batch time in milliseconds, that appears atomically.
	// +optional
	Files *FilesSink `json:"files,omitempty"`
}

// PrintSink prints records.
type PrintSink struct {
	// Records is how many records of each batch to print. Zero means 10.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Records int32 `json:"records,omitempty"`
}

// FilesSink writes JSON-lines files.
type FilesSink struct {
	// Path is the output directory.
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path"`
}
