package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"

	"github.com/sentinel-audit/sentinel/sdk/internal/pb"
)

// ProtocolVersion is the go-plugin protocol version of the Process stream.
const ProtocolVersion = 1

// MaxMessageBytes raises gRPC's 4 MiB default on both sides. The host caps
// batches far below it (1 MiB by default); a larger batch is refused before
// it is sent, with ErrBatchTooLarge, instead of tearing the stream down.
const MaxMessageBytes = 64 << 20

// ErrBatchTooLarge is returned when a batch would exceed MaxMessageBytes.
var ErrBatchTooLarge = errors.New("batch exceeds the plugin message limit")

// Handshake keeps a plugin binary from being run by hand by mistake.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SENTINEL_PLUGIN",
	MagicCookieValue: "7f3c2a0e-mcp-audit",
}

// PluginName is the key of the one plugin each process serves.
const PluginName = "sentinel"

// VersionedPlugins is the go-plugin plugin set, by protocol version.
func VersionedPlugins(def *Definition) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &grpcPlugin{def: def}}}
}

// grpcPlugin adapts a Definition to go-plugin: the server side serves an
// instance, the client side returns a Conn.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	def *Definition
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterPluginServer(s, &grpcServer{inst: newInstance(p.def, serverLogger())})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &grpcConn{client: pb.NewPluginClient(c)}, nil
}

// Flow-control windows and socket buffers sized for batches of a few
// hundred KiB: gRPC's 64 KiB defaults would stall every batch on window updates.
const (
	streamWindow = 16 << 20
	socketBuffer = 256 << 10
)

// GRPCServerOptions raises the message limits and windows on the plugin side.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(streamWindow),
		grpc.ReadBufferSize(socketBuffer), grpc.WriteBufferSize(socketBuffer),
		experimental.BufferPool(wireBuffers), grpc.ForceServerCodecV2(wireCodec{})}
}

// GRPCDialOptions raises the message limits and windows on the host side.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes),
		grpc.ForceCodecV2(wireCodec{})),
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(streamWindow),
		grpc.WithReadBufferSize(socketBuffer), grpc.WithWriteBufferSize(socketBuffer),
		experimental.WithBufferPool(wireBuffers)}
}

type grpcServer struct {
	pb.UnimplementedPluginServer
	inst *instance
}

func (s *grpcServer) Describe(context.Context, *pb.Empty) (*pb.Blob, error) {
	b, err := json.Marshal(s.inst.def)
	return &pb.Blob{Json: b}, err
}

func (s *grpcServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.Empty, error) {
	cfg := Config{Name: req.Name, DataDir: req.DataDir, Raw: req.ConfigJson, DryRun: req.DryRun}
	return &pb.Empty{}, wireError(s.inst.configure(ctx, cfg))
}

func (s *grpcServer) Health(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, s.inst.health(ctx)
}

func (s *grpcServer) Invoke(ctx context.Context, req *pb.InvokeRequest) (*pb.Blob, error) {
	res, err := s.inst.invoke(ctx, req.Operation, req.ArgsJson)
	return &pb.Blob{Json: res}, wireError(err)
}

func (s *grpcServer) Close(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, s.inst.close(ctx)
}

func (s *grpcServer) Process(stream pb.Plugin_ProcessServer) error {
	err := s.inst.serveStream(stream.Context(),
		func() (*Frame, error) {
			f, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			return frameFromPB(f)
		},
		func(f *Frame) error { return sendFrame(stream.Send, f) })
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// wireError carries a FieldError's field across gRPC in its message.
func wireError(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("%s%s\x00%s", fieldErrorPrefix, fe.Field, fe.Msg)
	}
	return err
}

const fieldErrorPrefix = "sentinel-field-error:"

// unwireError turns a gRPC status message back into a FieldError where it was one.
func unwireError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := indexOf(msg, fieldErrorPrefix); i >= 0 {
		rest := msg[i+len(fieldErrorPrefix):]
		if j := indexOf(rest, "\x00"); j >= 0 {
			return &FieldError{Field: rest[:j], Msg: rest[j+1:]}
		}
	}
	return err
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// grpcConn is the host's Conn to a plugin process.
type grpcConn struct{ client pb.PluginClient }

func (c *grpcConn) Describe(ctx context.Context) (*Definition, error) {
	blob, err := c.client.Describe(ctx, &pb.Empty{})
	if err != nil {
		return nil, err
	}
	var def Definition
	if err := json.Unmarshal(blob.Json, &def); err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	return &def, nil
}

func (c *grpcConn) Configure(ctx context.Context, name, dataDir string, raw json.RawMessage, dryRun bool) error {
	_, err := c.client.Configure(ctx, &pb.ConfigureRequest{Name: name, ConfigJson: raw, DataDir: dataDir, DryRun: dryRun})
	return unwireError(statusMessage(err))
}

func (c *grpcConn) Health(ctx context.Context) error {
	_, err := c.client.Health(ctx, &pb.Empty{})
	return statusMessage(err)
}

func (c *grpcConn) Invoke(ctx context.Context, op string, args json.RawMessage) (json.RawMessage, error) {
	blob, err := c.client.Invoke(ctx, &pb.InvokeRequest{Operation: op, ArgsJson: args})
	if err != nil {
		return nil, statusMessage(err)
	}
	return blob.Json, nil
}

func (c *grpcConn) Close(ctx context.Context) error {
	_, err := c.client.Close(ctx, &pb.Empty{})
	return statusMessage(err)
}

func (c *grpcConn) Stream(ctx context.Context) (Stream, error) {
	s, err := c.client.Process(ctx)
	if err != nil {
		return nil, err
	}
	return &grpcStream{s: s}, nil
}

type grpcStream struct{ s pb.Plugin_ProcessClient }

func (g *grpcStream) Send(f *Frame) error { return sendFrame(g.s.Send, f) }

// encodeBuffers are reused between frames: a fresh buffer per batch would be
// allocated and zeroed for every hop of every batch.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// sendFrame encodes f into a pooled buffer, refuses a batch over the message
// limit before it can tear the stream down, and sends it.
func sendFrame(send func(*pb.Frame) error, f *Frame) error {
	bp := encodeBuffers.Get().(*[]byte)
	msg := frameToPB(f, *bp)
	defer func() {
		if msg.Batch != nil && cap(msg.Batch.Records) <= 16<<20 {
			*bp = msg.Batch.Records[:0]
		}
		encodeBuffers.Put(bp)
	}()
	if msg.Batch != nil && len(msg.Batch.Records) > MaxMessageBytes-(1<<20) {
		return fmt.Errorf("%w: %d bytes", ErrBatchTooLarge, len(msg.Batch.Records))
	}
	return send(msg)
}

func (g *grpcStream) Recv() (*Frame, error) {
	f, err := g.s.Recv()
	if err != nil {
		return nil, err
	}
	return frameFromPB(f)
}

func (g *grpcStream) CloseSend() error { return g.s.CloseSend() }

// statusMessage strips gRPC's "rpc error: code = Unknown desc = " wrapping
// from a plugin's own error, so users read the plugin's words.
func statusMessage(err error) error {
	if err == nil {
		return nil
	}
	const marker = "desc = "
	msg := err.Error()
	if i := indexOf(msg, marker); i >= 0 {
		return errors.New(msg[i+len(marker):])
	}
	return err
}

func frameToPB(f *Frame, buf []byte) *pb.Frame {
	out := &pb.Frame{Kind: pb.Frame_Kind(f.Kind), Seq: f.Seq, Acks: f.Acks, MaxWaitMs: f.MaxWait.Milliseconds()}
	if f.Batch != nil {
		out.Batch = batchToPB(f.Batch, buf)
	}
	if f.Err != nil {
		out.Error = errorToPB(f.Err)
	}
	return out
}

func frameFromPB(f *pb.Frame) (*Frame, error) {
	out := &Frame{Kind: FrameKind(f.Kind), Seq: f.Seq, Acks: f.Acks, MaxWait: time.Duration(f.MaxWaitMs) * time.Millisecond}
	if f.Batch != nil {
		b, err := batchFromPB(f.Batch)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f.Seq, err)
		}
		out.Batch = b
	}
	if f.Error != nil {
		out.Err = errorFromPB(f.Error)
	}
	return out, nil
}

// batchToPB encodes b into buf (reused by the caller once the frame is sent:
// gRPC has copied it by then).
func batchToPB(b *Batch, buf []byte) *pb.Batch {
	out := &pb.Batch{Seq: b.Seq, Final: b.Final, Count: uint32(len(b.Records)), Records: appendRecords(buf[:0], b.Records)}
	for _, rj := range b.Rejected {
		out.Rejected = append(out.Rejected, &pb.Rejection{Index: int32(rj.Index), Reason: rj.Reason, Data: rj.Data})
	}
	for _, st := range b.Stages {
		out.Stages = append(out.Stages, &pb.Stage{In: uint32(st.In), Out: uint32(st.Out), Rejected: uint32(st.Rejected), Nanos: int64(st.Duration)})
	}
	return out
}

func batchFromPB(b *pb.Batch) (*Batch, error) {
	recs, err := decodeRecords(b.Records, int(b.Count))
	if err != nil {
		return nil, err
	}
	out := &Batch{Seq: b.Seq, Final: b.Final, Records: recs}
	for _, rj := range b.Rejected {
		out.Rejected = append(out.Rejected, Rejection{Index: int(rj.Index), Reason: rj.Reason, Data: rj.Data})
	}
	for _, st := range b.Stages {
		out.Stages = append(out.Stages, StageStats{In: int(st.In), Out: int(st.Out), Rejected: int(st.Rejected), Duration: time.Duration(st.Nanos)})
	}
	return out, nil
}

func errorToPB(err error) *pb.Error {
	e := &pb.Error{Message: err.Error()}
	var re *RetryError
	var pe *PanicError
	switch {
	case errors.Is(err, ErrEndOfInput):
		e.EndOfInput = true
	case errors.As(err, &re):
		e.Retryable, e.RetryAfterMs, e.Message = true, re.After.Milliseconds(), re.Err.Error()
		for _, i := range re.Indices {
			e.RetryIndices = append(e.RetryIndices, int32(i))
		}
	case errors.As(err, &pe):
		e.Panic, e.Message = true, pe.Value+"\n"+pe.Stack
	}
	return e
}

func errorFromPB(e *pb.Error) error {
	switch {
	case e.EndOfInput:
		return ErrEndOfInput
	case e.Panic:
		return &PanicError{Value: e.Message}
	case e.Retryable:
		re := &RetryError{Err: errors.New(e.Message), After: time.Duration(e.RetryAfterMs) * time.Millisecond}
		if len(e.RetryIndices) > 0 {
			re.Indices = make([]int, len(e.RetryIndices))
			for i, v := range e.RetryIndices {
				re.Indices[i] = int(v)
			}
		}
		return re
	}
	return errors.New(e.Message)
}

// ServeGRPC registers def's plugin service on s, as Serve does inside a
// plugin process; for test kits that run plugins over a real gRPC connection.
func ServeGRPC(s *grpc.Server, def *Definition) error {
	return (&grpcPlugin{def: def}).GRPCServer(nil, s)
}

// DialGRPC returns the host's Conn over an established gRPC connection.
func DialGRPC(c *grpc.ClientConn) Conn {
	return &grpcConn{client: pb.NewPluginClient(c)}
}
