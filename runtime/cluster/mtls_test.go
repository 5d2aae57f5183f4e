package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// testCA issues certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tributary test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a CA file and a certificate and key valid as client and
// server for 127.0.0.1, and returns their paths.
func (ca *testCA) issue(t *testing.T, name string) TLSFiles {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	files := TLSFiles{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}
	for path, data := range map[string][]byte{
		files.CA:   ca.pem,
		files.Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		files.Key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func TestMutualTLSInsteadOfASecret(t *testing.T) {
	ca := newTestCA(t)
	d, addr := startDriver(t, DriverConfig{Auth: Auth{TLS: ca.issue(t, "driver")}})
	startExecutor(t, "exec-tls", addr, func(c *ExecutorConfig) { c.Auth = Auth{TLS: ca.issue(t, "exec-tls")} })
	eventually(t, "the mTLS executor to register", func() bool { return d.AliveExecutors() == 1 })

	try := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stream, err := pb.NewDriverClient(conn).Session(ctx)
		if err == nil {
			err = stream.Send(hello("intruder", "127.0.0.1:1"))
		}
		if err == nil {
			_, err = stream.Recv()
		}
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	if err := try(credentials.NewTLS(&tls.Config{RootCAs: pool})); err == nil {
		t.Fatal("a client without a certificate got through")
	}
	other := newTestCA(t).issue(t, "stranger")
	strangerCert, err := tls.LoadX509KeyPair(other.Cert, other.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := try(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{strangerCert}})); err == nil {
		t.Fatal("a client whose certificate another CA signed got through")
	}
	if d.AliveExecutors() != 1 {
		t.Fatalf("%d executors registered; only the one with a valid certificate should", d.AliveExecutors())
	}
}

func TestIncompleteTLSConfigurationIsRefused(t *testing.T) {
	if _, err := NewDriver(DriverConfig{Auth: Auth{TLS: TLSFiles{CA: "ca.crt"}}}); err == nil {
		t.Fatal("a CA without a certificate and key was accepted")
	}
}
