package controllers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tributary-dev/tributary/controllers/specs"
)

// reconcileObjects keeps the driver's Service and the RPC Secret. The
// ConfigMap is written as a driver starts (it is the manifest that driver
// runs); the Secret is generated once and never changes.
func (r *StreamingJobReconciler) reconcileObjects(ctx context.Context, s *scope) error {
	if err := r.apply(ctx, s.job, specs.DriverService(s.job)); err != nil {
		return err
	}
	return r.ensureRPCSecret(ctx, s)
}

func (r *StreamingJobReconciler) ensureRPCSecret(ctx context.Context, s *scope) error {
	key := client.ObjectKey{Namespace: s.job.Namespace, Name: specs.RPCSecretName(s.job)}
	var existing corev1.Secret
	err := r.APIReader.Get(ctx, key, &existing)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading secret %s: %w", key.Name, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	secret := specs.RPCSecret(s.job, base64.RawURLEncoding.EncodeToString(buf))
	if err := controllerutil.SetControllerReference(s.job, secret, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating secret %s: %w", key.Name, err)
	}
	return nil
}
