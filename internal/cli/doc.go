// Package cli implements the tributary command: run a StreamingJob manifest
// locally, validate one offline, print the version. cmd/tributary only wires
// it to the process.
package cli
