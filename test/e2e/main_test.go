//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

const (
	operatorNamespace = "tributary-system"
	// Jobs run in a namespace of their own, recreated by every run.
	jobNamespace = "tributary-e2e"
	// The sample's checkpoint endpoint, bucket and credentials Secret.
	minioService      = "minio"
	bucket            = "tributary"
	credentialsSecret = "checkpoint-credentials"
	minioUser         = "tributary"
	minioPassword     = "tributary-secret"
)

// The cluster and what the suite installed in it.
var (
	restConfig *rest.Config
	k8s        client.Client
	clientset  *kubernetes.Clientset
	minioFwd   *forwarder
	repoRoot   = filepath.Join("..", "..")
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	image, minioImage := os.Getenv("E2E_IMAGE"), os.Getenv("E2E_MINIO_IMAGE")
	if image == "" || minioImage == "" {
		return 1, errors.New("set E2E_IMAGE (Tributary's image) and E2E_MINIO_IMAGE (MinIO's), as make test-e2e-local and hack/kind-e2e.sh do")
	}
	var err error
	if restConfig, err = config.GetConfig(); err != nil {
		return 1, fmt.Errorf("the cluster (KUBECONFIG): %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return 1, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return 1, err
	}
	if k8s, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		return 1, err
	}
	if clientset, err = kubernetes.NewForConfig(restConfig); err != nil {
		return 1, err
	}

	if err := installOperator(image); err != nil {
		return 1, fmt.Errorf("installing the chart: %w", err)
	}
	// Jobs left by an earlier run (E2E_KEEP) go first: they would write to
	// the bucket while it is emptied.
	if _, err := kubectl("delete", "namespace", jobNamespace, "--ignore-not-found", "--wait", "--timeout", "3m"); err != nil {
		return 1, err
	}
	if err := deployMinIO(minioImage); err != nil {
		return 1, fmt.Errorf("deploying MinIO: %w", err)
	}
	defer minioFwd.close()
	if err := createJobNamespace(); err != nil {
		return 1, fmt.Errorf("namespace %s: %w", jobNamespace, err)
	}
	code := m.Run()
	if os.Getenv("E2E_KEEP") != "" {
		fmt.Fprintf(os.Stderr, "e2e: E2E_KEEP is set: the operator, MinIO and namespace %s stay\n", jobNamespace)
		return code, nil
	}
	return code, tearDown()
}

// installOperator installs the chart as a user would, with the image under
// test; --wait returns once the operator's Deployment is available.
func installOperator(image string) error {
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon < slash+1 {
		return fmt.Errorf("E2E_IMAGE %q has no tag", image)
	}
	_, err := helm("upgrade", "--install", "tributary", filepath.Join(repoRoot, "charts", "tributary"),
		"--namespace", operatorNamespace, "--create-namespace",
		"--set", "image.repository="+image[:colon], "--set", "image.tag="+image[colon+1:],
		"--wait", "--timeout", "5m")
	return err
}

// The MinIO the sample's checkpoint endpoint names, on an emptyDir: the
// suite's data lives as long as the run.
const minioManifest = `apiVersion: v1
kind: Secret
metadata: {name: minio-root}
stringData: {MINIO_ROOT_USER: ` + minioUser + `, MINIO_ROOT_PASSWORD: ` + minioPassword + `}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: minio, labels: {app: minio}}
spec:
  selector: {matchLabels: {app: minio}}
  template:
    metadata: {labels: {app: minio}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532}
      containers:
        - name: minio
          image: IMAGE
          imagePullPolicy: IfNotPresent
          command: [minio]
          args: [server, /data, --address, ":9000", --certs-dir, /tmp/certs]
          envFrom: [{secretRef: {name: minio-root}}]
          env: [{name: HOME, value: /tmp}, {name: MINIO_BROWSER, value: "off"}, {name: MINIO_UPDATE, value: "off"}]
          ports: [{name: s3, containerPort: 9000}]
          readinessProbe: {httpGet: {path: /minio/health/ready, port: 9000}, periodSeconds: 2}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: data, mountPath: /data}, {name: tmp, mountPath: /tmp}]
      volumes: [{name: data, emptyDir: {}}, {name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: ` + minioService + `}
spec:
  selector: {app: minio}
  ports: [{name: s3, port: 9000, targetPort: 9000}]
`

func deployMinIO(image string) error {
	manifest := strings.Replace(minioManifest, "image: IMAGE", "image: "+image, 1)
	if _, err := kubectlIn(manifest, "apply", "-n", operatorNamespace, "-f", "-"); err != nil {
		return err
	}
	if _, err := kubectl("rollout", "status", "-n", operatorNamespace, "deployment/minio", "--timeout", "3m"); err != nil {
		return err
	}
	minioFwd = &forwarder{namespace: operatorNamespace, selector: "app=minio", port: 9000}
	mc, err := minioClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exists, err := mc.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	if !exists {
		return mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
	}
	// A MinIO kept from an earlier run (E2E_KEEP) holds its checkpoints,
	// which a job of the same name would resume from: start empty.
	for res := range mc.RemoveObjects(ctx, bucket, mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}), minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			return fmt.Errorf("emptying bucket %s: %s: %w", bucket, res.ObjectName, res.Err)
		}
	}
	return nil
}

func minioClient() (*minio.Client, error) {
	addr, err := minioFwd.address()
	if err != nil {
		return nil, err
	}
	return minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioPassword, "")})
}

// createJobNamespace makes the jobs' namespace, holding the Secret the
// sample's checkpoint section names.
func createJobNamespace() error {
	ns := &corev1.Namespace{}
	ns.Name = jobNamespace
	ctx := context.Background()
	if err := k8s.Create(ctx, ns); err != nil {
		return err
	}
	secret := &corev1.Secret{StringData: map[string]string{checkpoint.SecretAccessKeyIDKey: minioUser, checkpoint.SecretSecretAccessKeyKey: minioPassword}}
	secret.Name, secret.Namespace = credentialsSecret, jobNamespace
	return k8s.Create(ctx, secret)
}

func tearDown() error {
	var errs []error
	if _, err := kubectl("delete", "namespace", jobNamespace, "--wait", "--timeout", "3m"); err != nil {
		errs = append(errs, err)
	}
	if _, err := kubectl("delete", "-n", operatorNamespace, "--ignore-not-found", "deployment/minio", "service/"+minioService,
		"secret/minio-root"); err != nil {
		errs = append(errs, err)
	}
	if _, err := helm("uninstall", "tributary", "--namespace", operatorNamespace, "--wait"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
