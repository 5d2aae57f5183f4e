package miniotest

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The root credentials the test servers run with.
const (
	User     = "tributary"
	Password = "tributary-secret"
)

// Server is a running MinIO.
type Server struct {
	Addr string
	t    testing.TB
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: lis.Addr().String(), t: t, dir: t.TempDir()}
	lis.Close()
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	_, file, _, _ := goruntime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "hack", "minio.sh")
	cmd := exec.Command(script, "serve", s.Addr, s.dir)
	cmd.Env = append(cmd.Environ(), "MINIO_ROOT_USER="+User, "MINIO_ROOT_PASSWORD="+Password)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.cmd, s.logs = cmd, logs
	s.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + s.Addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("MinIO did not become ready on %s: %v\n%s", s.Addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the server; its data stays for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// Restart starts a stopped server again, on the same address and data.
func (s *Server) Restart() { s.start() }

// MakeBucket creates a bucket.
func (s *Server) MakeBucket(t testing.TB, bucket string) {
	t.Helper()
	admin, err := minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(User, Password, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
}
