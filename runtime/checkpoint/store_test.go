package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/runtime/checkpoint/miniotest"
)

const (
	minioUser     = miniotest.User
	minioPassword = miniotest.Password
)

// startMinIO runs a MinIO server with hack/minio.sh on a free port over a
// temporary directory, until the test ends, and returns its endpoint.
func startMinIO(t *testing.T) string { return miniotest.Start(t).Addr }

// newBucket creates a bucket on the server and returns a store in it.
func newBucket(t *testing.T, endpoint, bucket, prefix string) *S3 {
	t.Helper()
	admin, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := NewS3(S3Config{Endpoint: endpoint, Bucket: bucket, Prefix: prefix, Insecure: true,
		Credentials: Credentials{AccessKeyID: minioUser, SecretAccessKey: minioPassword}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Both stores behave the same, the S3 one against a real MinIO server.
func TestStores(t *testing.T) {
	endpoint := startMinIO(t)
	stores := map[string]func(t *testing.T) Store{
		"dir": func(t *testing.T) Store {
			d, err := NewDir(filepath.Join(t.TempDir(), "checkpoints"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		"s3": func(t *testing.T) Store {
			return newBucket(t, endpoint, strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), "jobs/wordcount")
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			t.Run("put-get", func(t *testing.T) { testPutGet(t, newStore(t)) })
			t.Run("create", func(t *testing.T) { testCreate(t, newStore(t)) })
			t.Run("list-delete", func(t *testing.T) { testListDelete(t, newStore(t)) })
			t.Run("keys", func(t *testing.T) { testKeys(t, newStore(t)) })
			t.Run("list-info-open", func(t *testing.T) { testListInfoOpen(t, newStore(t)) })
		})
	}
}

func testPutGet(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "metadata/1000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing object: %v, want ErrNotFound", err)
	}
	big := bytes.Repeat([]byte("state "), 2<<20)
	for _, data := range [][]byte{[]byte("first"), []byte("second"), big, {}} {
		if err := s.Put(ctx, "metadata/1000", data); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "metadata/1000")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get after Put of %d bytes: %d bytes, %v", len(data), len(got), err)
		}
	}
}

func testCreate(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.Create(ctx, "epochs/1", []byte("driver a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "epochs/1", []byte("driver b")); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if got, _ := s.Get(ctx, "epochs/1"); string(got) != "driver a" {
		t.Fatalf("a refused Create changed the object to %q", got)
	}
	// Racing writers: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Create(ctx, "epochs/2", []byte(fmt.Sprint(i)))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, ErrExists):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of 8 racing Creates succeeded, want 1", wins.Load())
	}
}

func testListDelete(t *testing.T, s Store) {
	ctx := context.Background()
	for _, k := range []string{"metadata/0003", "metadata/0001", "state/counts/0", "metadata/0002"} {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(ctx, "metadata/")
	if want := []string{"metadata/0001", "metadata/0002", "metadata/0003"}; err != nil || !slicesEqual(got, want) {
		t.Fatalf("List: %v, %v; want %v", got, err, want)
	}
	if err := s.Delete(ctx, "metadata/0002"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "metadata/0002"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	got, _ = s.List(ctx, "")
	if want := []string{"metadata/0001", "metadata/0003", "state/counts/0"}; !slicesEqual(got, want) {
		t.Fatalf("List after Delete: %v, want %v", got, want)
	}
}

func testListInfoOpen(t *testing.T, s Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	for _, k := range []string{"in/b", "in/a", "out/c"} {
		if err := s.Put(ctx, k, []byte("content of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListInfo(ctx, "in/")
	if err != nil || len(got) != 2 || got[0].Key != "in/a" || got[1].Key != "in/b" {
		t.Fatalf("ListInfo: %+v, %v", got, err)
	}
	for _, o := range got {
		if o.Size != int64(len("content of "+o.Key)) || o.Modified.Before(before) || o.Modified.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s: size %d, modified %s", o.Key, o.Size, o.Modified)
		}
	}
	r, err := s.Open(ctx, "in/a")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(data) != "content of in/a" {
		t.Fatalf("Open: %q, %v", data, err)
	}
	if _, err := s.Open(ctx, "in/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a missing object: %v, want ErrNotFound", err)
	}
}

func testKeys(t *testing.T, s Store) {
	ctx := context.Background()
	for _, k := range []string{"", "/abs", "a/", "a//b", "../up", "a/./b", ".tmp-x"} {
		if err := s.Put(ctx, k, nil); err == nil {
			t.Errorf("key %q was accepted", k)
		}
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

func TestOpenChoosesTheStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(v1alpha1.CheckpointSpec{Location: filepath.Join(dir, "cp")}, "job", Credentials{})
	if _, ok := s.(*Dir); err != nil || !ok {
		t.Fatalf("a local path gave %T, %v", s, err)
	}
	s, err = Open(v1alpha1.CheckpointSpec{Location: "s3://bucket/jobs/a"}, "job", Credentials{AccessKeyID: "k", SecretAccessKey: "s"})
	if s3, ok := s.(*S3); err != nil || !ok || s3.String() != "s3://bucket/jobs/a" {
		t.Fatalf("an s3 location gave %v, %v", s, err)
	}
	if _, err := Open(v1alpha1.CheckpointSpec{Location: "s3:///nobucket"}, "job", Credentials{}); err == nil {
		t.Fatal("an s3 location without a bucket was accepted")
	}
}

// Credentials never appear in formatted or logged output.
func TestCredentialsAreNeverPrinted(t *testing.T) {
	c := Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "very-secret", SessionToken: "token"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("connecting", "credentials", c)
	out := fmt.Sprintf("%v %+v %#v %s", c, c, c, c) + logs.String()
	for _, secret := range []string{"AKIAEXAMPLE", "very-secret", "token"} {
		if strings.Contains(out, secret) {
			t.Fatalf("%q printed: %s", secret, out)
		}
	}
}

// A stopped server is an outage to wait out; a missing bucket, wrong
// credentials and a missing object are answers no retry changes.
func TestTransientTellsOutagesFromAnswers(t *testing.T) {
	server := miniotest.Start(t)
	s := newBucket(t, server.Addr, "transient", "")
	ctx := context.Background()
	_, notFound := s.Get(ctx, "missing")
	noBucket, err := NewS3(S3Config{Endpoint: server.Addr, Bucket: "no-such-bucket", Insecure: true,
		Credentials: Credentials{AccessKeyID: minioUser, SecretAccessKey: minioPassword}})
	if err != nil {
		t.Fatal(err)
	}
	badCreds, err := NewS3(S3Config{Endpoint: server.Addr, Bucket: "transient", Insecure: true,
		Credentials: Credentials{AccessKeyID: minioUser, SecretAccessKey: "wrong-password"}})
	if err != nil {
		t.Fatal(err)
	}
	answers := map[string]error{
		"missing object": notFound,
		"missing bucket": noBucket.Put(ctx, "k", []byte("v")),
		"bad password":   badCreds.Put(ctx, "k", []byte("v")),
	}
	server.Stop()
	shortCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	down := s.Put(shortCtx, "k", []byte("v"))
	server.Restart()

	for what, err := range answers {
		if err == nil || Transient(err) {
			t.Errorf("%s: %v is taken for an outage", what, err)
		}
	}
	if down == nil || !Transient(down) {
		t.Errorf("a stopped server: %v is not taken for an outage", down)
	}
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}
