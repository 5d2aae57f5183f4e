// Package checks tests the install manifests: config/default rendered by
// kustomize (as kubectl apply -k does) and applied to a real API server.
// It is a module of its own so that kustomize's dependencies stay out of
// the product's go.mod.
package checks
