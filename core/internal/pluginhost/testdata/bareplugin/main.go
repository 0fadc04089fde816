// Command bareplugin is the floor the plugin benchmarks are measured
// against: a go-plugin gRPC plugin with nothing of Provisor's in it, no
// SDK, no generated code. Its service echoes bytes (a host → plugin
// call), and on request calls a host service back over the go-plugin
// broker n times (plugin → host calls, like a plugin's device RPCs).
package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Handshake is the bare plugin's own; the benchmark's client uses the same.
var handshake = plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "BARE_PLUGIN", MagicCookieValue: "bench"}

type bare struct {
	broker *plugin.GRPCBroker
	mu     sync.Mutex
	host   *grpc.ClientConn
}

// Call echoes its argument.
func (b *bare) Call(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	return in, nil
}

// Dial connects to the host's broker service once, as a plugin does when
// it starts.
func (b *bare) Dial(ctx context.Context, in *wrapperspb.UInt32Value) (*wrapperspb.BytesValue, error) {
	conn, err := b.broker.Dial(in.Value)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.host = conn
	b.mu.Unlock()
	return &wrapperspb.BytesValue{}, nil
}

// Loop calls the host's /provisor.bench.Host/Call n times with a small
// payload and returns the nanoseconds they took.
func (b *bare) Loop(ctx context.Context, in *wrapperspb.UInt64Value) (*wrapperspb.Int64Value, error) {
	b.mu.Lock()
	conn := b.host
	b.mu.Unlock()
	if conn == nil {
		return nil, errors.New("Dial first")
	}
	req := &wrapperspb.BytesValue{Value: make([]byte, 64)}
	start := time.Now()
	for range in.Value {
		out := &wrapperspb.BytesValue{}
		if err := conn.Invoke(ctx, "/provisor.bench.Host/Call", req, out); err != nil {
			return nil, err
		}
	}
	return wrapperspb.Int64(time.Since(start).Nanoseconds()), nil
}

func unary[In, Out any](f func(*bare, context.Context, *In) (*Out, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := new(In)
		if err := dec(in); err != nil {
			return nil, err
		}
		return f(srv.(*bare), ctx, in)
	}
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "provisor.bench.Bare",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Call", Handler: unary((*bare).Call)},
		{MethodName: "Dial", Handler: unary((*bare).Dial)},
		{MethodName: "Loop", Handler: unary((*bare).Loop)},
	},
}

type barePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (barePlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, &bare{broker: b})
	return nil
}

func (barePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("plugin side only")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         plugin.PluginSet{"bare": barePlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
