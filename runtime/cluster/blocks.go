package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tributary-dev/tributary/runtime"
	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// blockChunkBytes is the size of the chunks a block travels in.
const blockChunkBytes = 1 << 20

// maxBlockBytes bounds a fetched block, so that a bad peer cannot make a
// process buffer without limit.
const maxBlockBytes = 512 << 20

// blockSource returns a stored block, encoded.
type blockSource func(id runtime.BlockID) ([]byte, error)

// blockServer serves a process's blocks to the driver and to peers.
type blockServer struct {
	pb.UnimplementedExecutorServer
	mu     sync.RWMutex
	source blockSource
}

func (b *blockServer) setSource(s blockSource) {
	b.mu.Lock()
	b.source = s
	b.mu.Unlock()
}

func (b *blockServer) FetchBlock(req *pb.FetchBlockRequest, stream pb.Executor_FetchBlockServer) error {
	id, err := runtime.ParseBlockID(req.BlockId)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	b.mu.RLock()
	source := b.source
	b.mu.RUnlock()
	if source == nil {
		return status.Errorf(codes.NotFound, "no block %s: this process holds no job yet", id)
	}
	data, err := source(id)
	var missing *runtime.MissingBlockError
	if errors.As(err, &missing) {
		return status.Errorf(codes.NotFound, "no block %s", id)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "block %s: %v", id, err)
	}
	for off := 0; ; off += blockChunkBytes {
		end := min(off+blockChunkBytes, len(data))
		last := end == len(data)
		if err := stream.Send(&pb.BlockChunk{Data: data[off:end], Last: last}); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// fetcher fetches blocks from other processes over authenticated,
// cached connections.
type fetcher struct {
	auth  *Auth
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newFetcher(auth *Auth) *fetcher {
	return &fetcher{auth: auth, conns: map[string]*grpc.ClientConn{}}
}

func (f *fetcher) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, dialOptions(f.auth)...)
	if err != nil {
		return nil, err
	}
	f.conns[addr] = c
	return c, nil
}

// fetch implements runtime.Config.FetchBlock.
func (f *fetcher) fetch(ctx context.Context, addr string, id runtime.BlockID) ([]byte, error) {
	c, err := f.conn(addr)
	if err != nil {
		return nil, err
	}
	stream, err := pb.NewExecutorClient(c).FetchBlock(ctx, &pb.FetchBlockRequest{BlockId: id.String()})
	if err != nil {
		return nil, err
	}
	var data []byte
	for {
		chunk, err := stream.Recv()
		if status.Code(err) == codes.NotFound {
			return nil, fmt.Errorf("%w: %s", runtime.ErrBlockNotHeld, status.Convert(err).Message())
		}
		if err != nil {
			return nil, err
		}
		if len(data)+len(chunk.Data) > maxBlockBytes {
			return nil, fmt.Errorf("block %s from %s exceeds %d bytes", id, addr, maxBlockBytes)
		}
		data = append(data, chunk.Data...)
		if chunk.Last {
			return data, nil
		}
	}
}

// replicate pushes blocks to the executor at addr in one Replicate stream,
// which it applies whole or not at all.
func (f *fetcher) replicate(ctx context.Context, addr string, hdr *pb.ReplicaHeader, blocks [][]byte) error {
	c, err := f.conn(addr)
	if err != nil {
		return err
	}
	stream, err := pb.NewExecutorClient(c).Replicate(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&pb.ReplicaChunk{Header: hdr}); err != nil {
		return sendError(stream, err)
	}
	for i, data := range blocks {
		for off := 0; off == 0 || off < len(data); off += blockChunkBytes {
			end := min(off+blockChunkBytes, len(data))
			if err := stream.Send(&pb.ReplicaChunk{Block: int32(i), Data: data[off:end]}); err != nil {
				return sendError(stream, err)
			}
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// sendError explains a failed Send: the server's status, when it refused
// the stream, says more than the io.EOF that Send reports.
func sendError(stream pb.Executor_ReplicateClient, err error) error {
	if _, rerr := stream.CloseAndRecv(); rerr != nil {
		return rerr
	}
	return err
}

func (f *fetcher) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.conns = map[string]*grpc.ClientConn{}
}
