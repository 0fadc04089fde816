package pluginhost_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/store"
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

// BenchmarkBaselineGRPCRoundTrip is the floor both are measured against:
// a bare unary gRPC call (the go-plugin health check) over the same
// connection to the same plugin process.
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
