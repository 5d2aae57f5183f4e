package checkpoint

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// Credentials authenticate to an S3 store. They are never logged: String
// and the slog value hide them.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

func (c Credentials) String() string {
	if c.AccessKeyID == "" {
		return "no credentials"
	}
	return "credentials (hidden)"
}

// The Secret keys the manifest's credentialsSecret must hold.
const (
	SecretAccessKeyIDKey     = "accessKeyID"
	SecretSecretAccessKeyKey = "secretAccessKey"
)

// CredentialsFromEnv reads credentials from a mounted Secret directory
// (TRIBUTARY_CHECKPOINT_CREDENTIALS_DIR, holding the files accessKeyID and
// secretAccessKey), or else from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN.
func CredentialsFromEnv() (Credentials, error) {
	if dir := os.Getenv("TRIBUTARY_CHECKPOINT_CREDENTIALS_DIR"); dir != "" {
		var c Credentials
		for key, dst := range map[string]*string{SecretAccessKeyIDKey: &c.AccessKeyID, SecretSecretAccessKeyKey: &c.SecretAccessKey} {
			data, err := os.ReadFile(filepath.Join(dir, key))
			if err != nil {
				return Credentials{}, fmt.Errorf("checkpoint credentials: %w", err)
			}
			*dst = strings.TrimSpace(string(data))
		}
		return c, nil
	}
	return Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN")}, nil
}

// Open returns the store a manifest's checkpoint section names: S3 for an
// s3:// location, a local directory otherwise, and for an empty location
// the directory <job>.checkpoint under the working directory. A TLS CA
// Secret is read where the job's pods mount it, the directory
// TRIBUTARY_CHECKPOINT_CA_DIR.
func Open(spec v1alpha1.CheckpointSpec, job string, creds Credentials) (Store, error) {
	var ca []byte
	if strings.HasPrefix(spec.Location, "s3://") && spec.TLS != nil && spec.TLS.CASecret != nil {
		var err error
		if ca, err = os.ReadFile(filepath.Join(os.Getenv("TRIBUTARY_CHECKPOINT_CA_DIR"), "ca.crt")); err != nil {
			return nil, fmt.Errorf("checkpoint TLS CA (TRIBUTARY_CHECKPOINT_CA_DIR/ca.crt): %w", err)
		}
	}
	return OpenWithCA(spec, job, creds, ca)
}

// OpenWithCA is Open with the CA bundle given, as the operator reads it
// from the job's Secret.
func OpenWithCA(spec v1alpha1.CheckpointSpec, job string, creds Credentials, caPEM []byte) (Store, error) {
	loc := spec.Location
	if loc == "" {
		return NewDir(job + ".checkpoint")
	}
	if !strings.HasPrefix(loc, "s3://") {
		return NewDir(loc)
	}
	bucket, prefix, err := ParseS3Location(loc)
	if err != nil {
		return nil, err
	}
	cfg := S3Config{Endpoint: spec.Endpoint, Bucket: bucket, Prefix: prefix, Credentials: creds, CAPEM: caPEM}
	if spec.TLS != nil {
		cfg.Insecure, cfg.SkipVerify = spec.TLS.Disabled, spec.TLS.InsecureSkipVerify
	}
	return NewS3(cfg)
}

// LogValue keeps credentials out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// GoString keeps credentials out of %#v.
func (c Credentials) GoString() string { return c.String() }
