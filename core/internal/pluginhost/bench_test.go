package pluginhost_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/store"
	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
)

// fakeSession is a hook.Session whose device answers at once, so that the
// benchmarks measure the plugin boundary alone.
type fakeSession struct {
	inform *cwmp.Inform
	start  time.Time
	log    *slog.Logger
}

func newFakeSession() *fakeSession {
	return &fakeSession{start: time.Now(), log: slog.New(slog.DiscardHandler), inform: &cwmp.Inform{
		DeviceID: cwmp.DeviceID{Manufacturer: "Testco", OUI: "00AABB", ProductClass: "Box", SerialNumber: "S1"},
		Events:   []cwmp.EventStruct{{EventCode: cwmp.EventPeriodic}},
		ParameterList: []cwmp.ParameterValue{
			{Name: "Device.DeviceInfo.SoftwareVersion", Value: cwmp.String("2.4.1")},
			{Name: "Device.DeviceInfo.HardwareVersion", Value: cwmp.String("r1")},
			{Name: "Device.DeviceInfo.ProvisioningCode", Value: cwmp.String("")},
			{Name: "Device.ManagementServer.ConnectionRequestURL", Value: cwmp.String("http://192.0.2.1:7547/x")},
			{Name: "Device.ManagementServer.ParameterKey", Value: cwmp.String("")},
			{Name: "Device.RootDataModelVersion", Value: cwmp.String("2.15")},
		},
	}}
}

func (f *fakeSession) ID() string { return "bench-session" }
func (f *fakeSession) Device() hook.Device {
	return hook.Device{ID: "00AABB-Box-S1", Manufacturer: "Testco", OUI: "00AABB", ProductClass: "Box", SerialNumber: "S1", Root: "Device.", Version: cwmp.Version{Major: 1, Minor: 4}}
}
func (f *fakeSession) Inform() *cwmp.Inform { return f.inform }
func (f *fakeSession) HasEvent(c cwmp.EventCode) bool {
	return c == cwmp.EventPeriodic
}
func (f *fakeSession) Requests() []cwmp.Body { return nil }
func (f *fakeSession) Start() time.Time      { return f.start }
func (f *fakeSession) Value(ctx context.Context, name string) (store.Param, bool, error) {
	return store.Param{}, false, nil
}
func (f *fakeSession) Values(ctx context.Context, prefix string) ([]store.Param, error) {
	return nil, nil
}
func (f *fakeSession) Logger() *slog.Logger { return f.log }
func (f *fakeSession) Call(ctx context.Context, req cwmp.Body) (cwmp.Body, error) {
	switch r := req.(type) {
	case *cwmp.GetParameterValues:
		out := &cwmp.GetParameterValuesResponse{}
		for _, n := range r.ParameterNames {
			out.ParameterList = append(out.ParameterList, cwmp.ParameterValue{Name: n, Value: cwmp.String("2.4.1")})
		}
		return out, nil
	case *cwmp.SetParameterValues:
		return &cwmp.SetParameterValuesResponse{}, nil
	}
	return nil, &cwmp.Fault{Code: cwmp.FaultMethodNotSupported}
}

func benchHost(b *testing.B, mode string) (*pluginhost.Host, *pluginhost.Plugin) {
	b.Helper()
	dir := b.TempDir()
	install(b, dir, "testplugin", bins.testplugin, nil)
	h, err := pluginhost.Start(context.Background(), pluginhost.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler),
		Config: testConfig(map[string]string{"mode": mode})})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close(context.Background()) })
	p, _ := h.Plugin("testplugin")
	if p.Health().State != pluginhost.StateRunning {
		b.Fatalf("plugin: %+v", p.Health())
	}
	return h, p
}

// BenchmarkPluginEventCall is one session's plugin call: the hook
// handler's Run with an Inform of six parameters, a plugin whose handler
// returns at once, the session lent and taken back.
func BenchmarkPluginEventCall(b *testing.B) {
	_, p := benchHost(b, "noop")
	h := p.Handler()
	s := newFakeSession()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := h.Run(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if c := p.Health().Calls; c != int64(b.N) {
		b.Fatalf("%d plugin calls for %d sessions", c, b.N)
	}
}

// BenchmarkPluginCallback is one device RPC a plugin issues: plugin →
// host over the broker, GetParameterValues on the (instant) session, and
// back. One function call makes b.N of them.
func BenchmarkPluginCallback(b *testing.B) {
	host, _ := benchHost(b, "noop")
	s := newFakeSession()
	hostCall := func(n int) (time.Duration, error) {
		arg, _ := json.Marshal(n)
		res, err := host.CallFunction(context.Background(), pluginhost.FunctionCall{Plugin: "testplugin", Name: "loop", Args: []json.RawMessage{arg}, Session: s})
		if err != nil {
			return 0, err
		}
		ns, _ := strconv.ParseInt(string(res), 10, 64)
		return time.Duration(ns), nil
	}
	if _, err := hostCall(100); err != nil { // warm the connection
		b.Fatal(err)
	}
	b.ResetTimer()
	d, err := hostCall(b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "plugin-ns/rpc")
}

// BenchmarkBaselineGRPCRoundTrip is a bare unary gRPC call (the
// go-plugin health check) over the host's own connection to the same
// plugin process.
func BenchmarkBaselineGRPCRoundTrip(b *testing.B) {
	_, p := benchHost(b, "noop")
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := p.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// bareClient is the host's side of testdata/bareplugin: a go-plugin
// client started as the host starts plugins (gRPC only, automatic mTLS,
// no host environment), with nothing of Provisor's on either side.
type bareClient struct {
	conn   *grpc.ClientConn
	broker *plugin.GRPCBroker
}

type bareGlue struct{ plugin.NetRPCUnsupportedPlugin }

func (bareGlue) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (bareGlue) GRPCClient(_ context.Context, br *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &bareClient{conn: c, broker: br}, nil
}

// bareHost serves /provisor.bench.Host/Call, an echo, to the bare plugin.
var bareHost = grpc.ServiceDesc{
	ServiceName: "provisor.bench.Host",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := &wrapperspb.BytesValue{}
		if err := dec(in); err != nil {
			return nil, err
		}
		return in, nil
	}}},
}

func startBare(b *testing.B) *bareClient {
	b.Helper()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "BARE_PLUGIN", MagicCookieValue: "bench"},
		Plugins:          plugin.PluginSet{"bare": bareGlue{}},
		Cmd:              exec.Command(bins.bareplugin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Logger:           hclog.NewNullLogger(),
	})
	b.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := rpc.Dispense("bare")
	if err != nil {
		b.Fatal(err)
	}
	c := raw.(*bareClient)
	id := c.broker.NextId()
	go c.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		s.RegisterService(&bareHost, struct{}{})
		return s
	})
	if err := c.conn.Invoke(context.Background(), "/provisor.bench.Bare/Dial", wrapperspb.UInt32(id), &wrapperspb.BytesValue{}); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkBareGoPluginCall is the floor of BenchmarkPluginEventCall: a
// unary call from the host to a bare go-plugin gRPC plugin, with a
// payload the size of that benchmark's HandleSession request.
func BenchmarkBareGoPluginCall(b *testing.B) {
	c := startBare(b)
	ctx := context.Background()
	req := &wrapperspb.BytesValue{Value: make([]byte, benchRequestSize(b))}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.conn.Invoke(ctx, "/provisor.bench.Bare/Call", req, &wrapperspb.BytesValue{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareGoPluginCallback is the floor of BenchmarkPluginCallback:
// the bare plugin calls a host service back over the go-plugin broker,
// on a connection it dialled once; b.N calls in one loop.
func BenchmarkBareGoPluginCallback(b *testing.B) {
	c := startBare(b)
	loop := func(n int) time.Duration {
		out := &wrapperspb.Int64Value{}
		if err := c.conn.Invoke(context.Background(), "/provisor.bench.Bare/Loop", wrapperspb.UInt64(uint64(n)), out); err != nil {
			b.Fatal(err)
		}
		return time.Duration(out.Value)
	}
	loop(100) // warm the connection
	b.ResetTimer()
	d := loop(b.N)
	b.StopTimer()
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "plugin-ns/rpc")
}

// benchRequestSize is the wire size of the HandleSession request
// BenchmarkPluginEventCall sends.
func benchRequestSize(b *testing.B) int {
	s := newFakeSession()
	req := &pluginv1.HandleSessionRequest{SessionId: s.ID(), Session: 1 << 62, StartUnixNano: s.start.UnixNano(),
		Device: &pluginv1.Device{Id: "00AABB-Box-S1", Manufacturer: "Testco", Oui: "00AABB", ProductClass: "Box", SerialNumber: "S1", Root: "Device.", CwmpVersion: "1.4"}}
	for _, e := range s.inform.Events {
		req.Events = append(req.Events, &pluginv1.Event{Code: string(e.EventCode)})
	}
	for _, v := range s.inform.ParameterList {
		req.InformParameters = append(req.InformParameters, &pluginv1.ParameterValue{Name: v.Name, Value: v.Value.Text, Type: string(v.Value.Type)})
	}
	n := proto.Size(req)
	if n == 0 {
		b.Fatal("empty request")
	}
	return n
}
