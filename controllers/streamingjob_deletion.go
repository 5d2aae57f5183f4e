package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// finalize stops a deleted job gracefully (the driver writes its last
// checkpoint), then applies the checkpoint retention policy, then lets
// the job go; its pods, Service, Secret and ConfigMap are collected
// through their owner references.
func (r *StreamingJobReconciler) finalize(ctx context.Context, s *scope) error {
	job := s.job
	if !controllerutil.ContainsFinalizer(job, finalizer) {
		return nil
	}
	s.facts.deleting = true
	if s.driver != nil {
		if s.driver.DeletionTimestamp.IsZero() && !podDone(s.driver) {
			r.event(s, corev1.EventTypeNormal, "Stopping", "Delete", "the job is being deleted: stopping the driver with a final checkpoint")
		}
		if s.driver.DeletionTimestamp.IsZero() {
			if err := r.deletePod(ctx, s.driver); err != nil {
				return err
			}
		}
		s.after(time.Second)
		return nil
	}
	if job.Spec.Checkpoint.RetentionPolicy == v1alpha1.DeleteCheckpoints {
		n, err := r.deleteCheckpoints(ctx, job)
		if err != nil {
			r.event(s, corev1.EventTypeWarning, "CheckpointDeletionFailed", "Delete", "deleting the checkpoints: %v; retrying", err)
			return err
		}
		r.event(s, corev1.EventTypeNormal, "CheckpointsDeleted", "Delete", "deleted %d checkpoint objects at %s (savepoints kept)", n, job.Spec.Checkpoint.Location)
	}
	patch := client.MergeFrom(job.DeepCopy())
	controllerutil.RemoveFinalizer(job, finalizer)
	if err := r.Patch(ctx, job, patch); err != nil {
		return fmt.Errorf("removing the finalizer of job %s: %w", job.Name, err)
	}
	return nil
}

// deleteCheckpoints removes everything at the job's checkpoint location
// but its savepoints. A local location lives in the pods and went with
// them.
func (r *StreamingJobReconciler) deleteCheckpoints(ctx context.Context, job *v1alpha1.StreamingJob) (int, error) {
	if !strings.HasPrefix(job.Spec.Checkpoint.Location, "s3://") {
		return 0, nil
	}
	store, err := r.checkpointStore(ctx, job)
	if err != nil {
		return 0, err
	}
	keys, err := store.List(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", store, err)
	}
	n := 0
	for _, key := range keys {
		if strings.HasPrefix(key, runtime.SavepointsDir) {
			continue
		}
		if err := store.Delete(ctx, key); err != nil {
			return n, fmt.Errorf("deleting %s at %s: %w", key, store, err)
		}
		n++
	}
	return n, nil
}

// checkpointStore opens a job's S3 checkpoint location with the job's
// credentials and CA, read from its Secrets.
func (r *StreamingJobReconciler) checkpointStore(ctx context.Context, job *v1alpha1.StreamingJob) (checkpoint.Store, error) {
	ck := job.Spec.Checkpoint
	var creds checkpoint.Credentials
	if ck.CredentialsSecret != nil {
		data, err := r.secretData(ctx, job.Namespace, ck.CredentialsSecret.Name)
		if err != nil {
			return nil, err
		}
		creds.AccessKeyID, creds.SecretAccessKey = string(data["accessKeyID"]), string(data["secretAccessKey"])
	}
	var ca []byte
	if ck.TLS != nil && ck.TLS.CASecret != nil {
		data, err := r.secretData(ctx, job.Namespace, ck.TLS.CASecret.Name)
		if err != nil {
			return nil, err
		}
		ca = data["ca.crt"]
	}
	return checkpoint.OpenWithCA(ck, job.Name, creds, ca)
}

func (r *StreamingJobReconciler) secretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &secret); err != nil {
		return nil, fmt.Errorf("reading secret %s: %w", name, err)
	}
	return secret.Data, nil
}
