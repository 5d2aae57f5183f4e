// Package crd embeds the generated CustomResourceDefinitions, so that
// `tributary validate` and `tributary run` check a manifest against the same
// schema and CEL rules as the API server.
package crd

import _ "embed"

// StreamingJobs is the StreamingJob CRD, as generated into bases/.
//
//go:embed bases/tributary.dev_streamingjobs.yaml
var StreamingJobs []byte
