package pipeline

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Every operator the manifest language offers, run through a manifest on
// fixed batches and checked against the answer worked out by hand.
func TestManifestOperators(t *testing.T) {
	dir := t.TempDir()
	b1 := writeFile(t, dir, "b1", `{"user":"ann","n":1}`+"\n"+`{"user":"bob","n":2}`+"\n")
	b2 := writeFile(t, dir, "b2", `{"user":"ann","n":3}`+"\n")
	b3 := writeFile(t, dir, "b3", `{"user":"cat","n":4}`+"\n")
	names := writeFile(t, dir, "names1", "ann Ann\nbob Bob\n")
	names2 := writeFile(t, dir, "names2", "cat Cat\n")
	names3 := writeFile(t, dir, "names3", "\n")
	out := func(name string) string { return filepath.Join(dir, "out", name) }
	m := manifest(`sources:
  - name: events
    files: {paths: [` + strings.Join([]string{b1, b2, b3}, ", ") + `]}
  - name: people
    files: {paths: [` + strings.Join([]string{names, names2, names3}, ", ") + `]}
streams:
  - name: parsed
    from: events
    parseJSON: {}
  - name: byUser
    from: parsed
    keyBy: {key: "record.user", value: "record.n"}
  - name: peopleLines
    from: people
    filter: "record != ''"
  - name: names
    from: peopleLines
    keyBy: {key: "record.split(' ')[0]", value: "record.split(' ')[1]"}
  - name: joined
    from: byUser
    join: {with: names}
  - name: fullJoined
    from: byUser
    join: {with: names, type: fullOuter}
  - name: grouped
    from: byUser
    cogroup: {with: names}
  - name: all
    from: byUser
    union: {with: [byUser]}
  - name: lists
    from: all
    groupByKey: {}
  - name: spread
    from: parsed
    repartition: {partitions: 3}
  - name: counted
    from: spread
    count: {}
  - name: amounts
    from: parsed
    map: "record.n"
  - name: total
    from: amounts
    reduce: {expression: "a + b"}
  - name: recent
    from: amounts
    window: {window: 2s}
  - name: recentCount
    from: amounts
    countByWindow: {window: 2s}
  - name: recentMax
    from: amounts
    reduceByWindow: {function: max, window: {window: 2s}}
  - name: running
    from: byUser
    updateStateByKey: {update: "state == null ? values.sum() : (state + values.sum() > 5 ? null : state + values.sum())"}
outputs:
  - {from: joined, files: {path: ` + out("joined") + `}}
  - {from: fullJoined, files: {path: ` + out("fullJoined") + `}}
  - {from: grouped, files: {path: ` + out("grouped") + `}}
  - {from: lists, files: {path: ` + out("lists") + `}}
  - {from: counted, files: {path: ` + out("counted") + `}}
  - {from: total, files: {path: ` + out("total") + `}}
  - {from: recent, files: {path: ` + out("recent") + `}}
  - {from: recentCount, files: {path: ` + out("recentCount") + `}}
  - {from: recentMax, files: {path: ` + out("recentMax") + `}}
  - {from: running, files: {path: ` + out("running") + `}}
`)
	got := runManifest(t, m, 3)
	want := map[string][]string{
		"joined/1000":      {`{"key":"ann","value":{"left":1,"right":"Ann"}}`, `{"key":"bob","value":{"left":2,"right":"Bob"}}`},
		"joined/2000":      nil, // ann has no name in batch 2
		"fullJoined/2000":  {`{"key":"ann","value":{"left":3,"right":null}}`, `{"key":"cat","value":{"left":null,"right":"Cat"}}`},
		"grouped/3000":     {`{"key":"cat","value":{"left":[4],"right":[]}}`},
		"lists/1000":       {`{"key":"ann","value":[1,1]}`, `{"key":"bob","value":[2,2]}`},
		"counted/1000":     {"2"},
		"counted/2000":     {"1"},
		"total/1000":       {"3"},
		"total/3000":       {"4"},
		"recent/2000":      {"1", "2", "3"},
		"recent/3000":      {"3", "4"},
		"recentCount/3000": {"2"},
		"recentMax/2000":   {"3"},
		"running/1000":     {`{"key":"ann","value":1}`, `{"key":"bob","value":2}`},
		"running/2000":     {`{"key":"ann","value":4}`, `{"key":"bob","value":2}`},
		"running/3000":     {`{"key":"ann","value":4}`, `{"key":"bob","value":2}`, `{"key":"cat","value":4}`},
	}
	for key, w := range want {
		if !reflect.DeepEqual(got[key], w) && !(len(w) == 0 && len(got[key]) == 0) {
			t.Errorf("%s: got %q, want %q", key, got[key], w)
		}
	}
}
