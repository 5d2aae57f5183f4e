package cluster

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MaxMessageBytes bounds every message; a larger one is refused with
// ResourceExhausted, so a bad or hostile peer cannot make a process allocate
// without limit. Blocks travel in chunks well below it.
const MaxMessageBytes = 8 << 20

// ErrNoSecret is returned when a process would start without the shared
// secret: connections are authenticated by default.
var ErrNoSecret = errors.New("no shared secret: set TRIBUTARY_SECRET (or --secret)")

const authHeader = "authorization"

// serverOptions authenticate every call with the shared secret before any
// handler runs, and bound message sizes.
func serverOptions(secret string) []grpc.ServerOption {
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		for _, v := range md.Get(authHeader) {
			if token, ok := strings.CutPrefix(v, "Bearer "); ok && subtle.ConstantTimeCompare([]byte(token), []byte(secret)) == 1 {
				return nil
			}
		}
		return status.Error(codes.Unauthenticated, "missing or wrong shared secret")
	}
	return []grpc.ServerOption{
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
}

// secretCredentials attaches the shared secret to every call.
type secretCredentials string

func (s secretCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{authHeader: "Bearer " + string(s)}, nil
}

// RequireTransportSecurity is false: the secret authenticates peers; use
// mTLS (or a service mesh) where traffic must also be encrypted.
func (secretCredentials) RequireTransportSecurity() bool { return false }

// dialOptions authenticate calls with the shared secret.
func dialOptions(secret string) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(secretCredentials(secret)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
	}
}
