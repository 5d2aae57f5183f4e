package cluster

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MaxMessageBytes bounds every message; a larger one is refused with
// ResourceExhausted, so a bad or hostile peer cannot make a process allocate
// without limit. Blocks travel in chunks well below it.
const MaxMessageBytes = 8 << 20

// ErrNoSecret is returned when a process would start with neither the
// shared secret nor mTLS: connections are authenticated by default.
var ErrNoSecret = errors.New("no shared secret: set TRIBUTARY_SECRET (or --secret), or configure mTLS")

// TLSFiles configure mutual TLS: every process presents a certificate
// signed by the CA and accepts only peers whose certificates are.
type TLSFiles struct {
	CA, Cert, Key string
}

func (f TLSFiles) enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// Auth is how processes authenticate each other: a shared secret, mTLS,
// or both.
type Auth struct {
	Secret string
	TLS    TLSFiles

	server *tls.Config
	client *tls.Config
}

// load checks the configuration and reads the certificates once.
func (a *Auth) load() error {
	if a.Secret == "" && !a.TLS.enabled() {
		return ErrNoSecret
	}
	if !a.TLS.enabled() {
		return nil
	}
	if a.TLS.CA == "" || a.TLS.Cert == "" || a.TLS.Key == "" {
		return errors.New("mTLS needs a CA, a certificate and its key")
	}
	caPEM, err := os.ReadFile(a.TLS.CA)
	if err != nil {
		return fmt.Errorf("reading the TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s holds no PEM certificate", a.TLS.CA)
	}
	cert, err := tls.LoadX509KeyPair(a.TLS.Cert, a.TLS.Key)
	if err != nil {
		return fmt.Errorf("reading the TLS certificate: %w", err)
	}
	a.server = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	a.client = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool}
	return nil
}

const authHeader = "authorization"

// serverOptions authenticate every call (mTLS at the handshake, the shared
// secret before any handler runs) and bound message sizes.
func serverOptions(a *Auth) []grpc.ServerOption {
	secret := a.Secret
	check := func(ctx context.Context) error {
		if secret == "" {
			return nil // mTLS alone: the handshake verified the peer
		}
		md, _ := metadata.FromIncomingContext(ctx)
		for _, v := range md.Get(authHeader) {
			if token, ok := strings.CutPrefix(v, "Bearer "); ok && subtle.ConstantTimeCompare([]byte(token), []byte(secret)) == 1 {
				return nil
			}
		}
		return status.Error(codes.Unauthenticated, "missing or wrong shared secret")
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
	if a.server != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(a.server)))
	}
	return opts
}

// secretCredentials attaches the shared secret to every call.
type secretCredentials string

func (s secretCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{authHeader: "Bearer " + string(s)}, nil
}

// RequireTransportSecurity is false: the secret authenticates peers; use
// mTLS (or a service mesh) where traffic must also be encrypted.
func (secretCredentials) RequireTransportSecurity() bool { return false }

// dialOptions authenticate calls with the shared secret and, with mTLS,
// this process's certificate.
func dialOptions(a *Auth) []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		// gRPC waits a second, then longer, before redialing a peer it
		// could not reach. A replaced driver is back within a second or
		// two, and every batch waits for executors to re-register: redial
		// sooner.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	}
	if a.client != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(a.client)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if a.Secret != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(secretCredentials(a.Secret)))
	}
	return opts
}
