package checkpoint

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config locates an S3-compatible store.
type S3Config struct {
	// Endpoint is host:port; empty means AWS S3.
	Endpoint string
	// Bucket and Prefix come from the location s3://bucket/prefix.
	Bucket, Prefix string
	Credentials    Credentials
	// Insecure connects over plain HTTP (test setups only).
	Insecure bool
	// CAPEM, when set, is the CA bundle that signed the endpoint's
	// certificate; SkipVerify accepts any certificate (test setups only).
	CAPEM      []byte
	SkipVerify bool
}

// S3 is a Store in an S3-compatible bucket.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
	where  string
}

// NewS3 connects to the store. It does not check that the bucket exists:
// the first read or write does, with an error naming it.
func NewS3(cfg S3Config) (*S3, error) {
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("checkpoint location needs a bucket")
	}
	transport, err := minio.DefaultTransport(!cfg.Insecure)
	if err != nil {
		return nil, err
	}
	if !cfg.Insecure && (cfg.CAPEM != nil || cfg.SkipVerify) {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.SkipVerify} //nolint:gosec // the manifest's explicit test-only choice
		if cfg.CAPEM != nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CAPEM) {
				return nil, fmt.Errorf("checkpoint TLS: the CA bundle holds no certificate")
			}
			tc.RootCAs = pool
		}
		transport.TLSClientConfig = tc
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.Credentials.AccessKeyID, cfg.Credentials.SecretAccessKey, cfg.Credentials.SessionToken),
		Secure:    !cfg.Insecure,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint endpoint %s: %w", endpoint, err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	where := "s3://" + cfg.Bucket
	if prefix != "" {
		where += "/" + prefix
		prefix += "/"
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: prefix, where: where}, nil
}

// ParseS3Location splits s3://bucket/prefix.
func ParseS3Location(location string) (bucket, prefix string, err error) {
	u, err := url.Parse(location)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("checkpoint location %q: want s3://bucket/prefix", location)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

func (s *S3) String() string { return s.where }

func (s *S3) object(key string) (string, error) {
	if err := validKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// Put relies on S3's own atomicity: an object appears whole when its PUT
// completes.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	_, err = s.client.PutObject(ctx, s.bucket, obj, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		return fmt.Errorf("writing %s/%s: %w", s.where, key, err)
	}
	return nil
}

// Create is a PUT with If-None-Match: *, which the server refuses when the
// object exists.
func (s *S3) Create(ctx context.Context, key string, data []byte) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{}
	opts.SetMatchETagExcept("*")
	_, err = s.client.PutObject(ctx, s.bucket, obj, bytes.NewReader(data), int64(len(data)), opts)
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "PreconditionFailed" || resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("creating %s/%s: %w", s.where, key, ErrExists)
	case resp.Code == "NotImplemented" || resp.StatusCode == http.StatusNotImplemented:
		return fmt.Errorf("creating %s/%s: %w", s.where, key, ErrConditionalUnsupported)
	}
	return fmt.Errorf("creating %s/%s: %w", s.where, key, err)
}

func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	o, err := s.client.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err == nil {
		defer o.Close()
		var data []byte
		if data, err = io.ReadAll(o); err == nil {
			return data, nil
		}
	}
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return nil, fmt.Errorf("reading %s/%s: %w", s.where, key, ErrNotFound)
	}
	return nil, fmt.Errorf("reading %s/%s: %w", s.where, key, err)
}

func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	objects, err := s.ListInfo(ctx, prefix)
	return keysOf(objects), err
}

func (s *S3) ListInfo(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var objects []ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("listing objects under %s/%s: %w", s.where, prefix, o.Err)
		}
		objects = append(objects, ObjectInfo{Key: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size, Modified: o.LastModified})
	}
	sort.Slice(objects, func(i, j int) bool { return objects[i].Key < objects[j].Key })
	return objects, nil
}

// Open streams an object. GetObject returns before the request is made, so
// a missing object is found by a Stat of the opened object.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	o, err := s.client.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err == nil {
		if _, err = o.Stat(); err != nil {
			o.Close()
		}
	}
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return nil, fmt.Errorf("reading %s/%s: %w", s.where, key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", s.where, key, err)
	}
	return o, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("deleting %s/%s: %w", s.where, key, err)
	}
	return nil
}
