// Package v1alpha1 holds the StreamingJob API (group tributary.dev, version
// v1alpha1): the custom resource the operator reconciles, and the pipeline
// schema that `tributary run` executes locally from the same manifest.
//
// +kubebuilder:object:generate=true
// +groupName=tributary.dev
package v1alpha1
