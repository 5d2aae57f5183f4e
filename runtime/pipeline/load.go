package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// Job is a loaded and validated manifest, ready to build.
type Job struct {
	// Object is the manifest with the CRD's defaults applied.
	Object *v1alpha1.StreamingJob
	steps  []*step // sources and streams, parents first
	outs   []*step
}

// Load reads, decodes and validates a manifest file. Every problem found is
// returned at once as an ErrorList.
func Load(path string) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse decodes and validates a manifest: strict YAML (unknown fields are
// errors), the CRD's schema, defaults and CEL rules as the API server applies
// them, then the pipeline graph and its CEL expressions.
func Parse(data []byte) (*Job, error) {
	docs := bytes.Split(data, []byte("\n---"))
	if len(bytes.TrimSpace(docs[0])) == 0 && len(docs) > 1 {
		docs = docs[1:]
	}
	for _, extra := range docs[1:] {
		if len(bytes.TrimSpace(bytes.TrimPrefix(extra, []byte("\n")))) > 0 {
			return nil, ErrorList{{Field: "<manifest>", Detail: "holds more than one YAML document; give one StreamingJob"}}
		}
	}
	js, err := yaml.YAMLToJSON(docs[0])
	if err != nil {
		return nil, ErrorList{{Field: "<manifest>", Detail: "malformed YAML: " + err.Error()}}
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(js, &obj); err != nil || obj == nil {
		return nil, ErrorList{{Field: "<manifest>", Detail: "not a YAML mapping"}}
	}
	if errs := checkKind(obj); len(errs) > 0 {
		return nil, errs
	}
	// Unknown or mistyped fields first: kubectl apply --validate=strict
	// rejects them, and a typo must not be silently pruned.
	var job v1alpha1.StreamingJob
	strict, err := sigsjson.UnmarshalStrict(js, &job)
	if err != nil {
		return nil, ErrorList{{Field: "<manifest>", Detail: err.Error()}}
	}
	var errs ErrorList
	for _, e := range strict {
		errs.add("<manifest>", "%v", e)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	schemaErrs := validateAgainstCRD(obj)
	// Decode again, now with the CRD's defaults applied.
	defaulted, err := utiljson.Marshal(obj)
	if err != nil {
		return nil, err
	}
	job = v1alpha1.StreamingJob{}
	if err := utiljson.Unmarshal(defaulted, &job); err != nil {
		return nil, fmt.Errorf("decoding defaulted manifest: %w", err)
	}
	// Report the schema's errors and the graph's together, so that one run
	// shows every problem.
	compiled, err := compile(&job)
	if len(schemaErrs) > 0 {
		var graphErrs ErrorList
		errors.As(err, &graphErrs)
		return nil, append(schemaErrs, graphErrs...)
	}
	return compiled, err
}

func checkKind(obj map[string]any) ErrorList {
	var errs ErrorList
	if v, _ := obj["apiVersion"].(string); v != v1alpha1.GroupVersion.String() {
		errs.add("apiVersion", "is %q, want %q", v, v1alpha1.GroupVersion.String())
	}
	if k, _ := obj["kind"].(string); k != "StreamingJob" {
		errs.add("kind", "is %q, want StreamingJob", k)
	}
	return errs
}

// BatchInterval returns the job's batch interval.
func (j *Job) BatchInterval() time.Duration { return j.Object.Spec.BatchInterval.Duration }
