package sdk

import (
	"context"
	"io"
	"testing"
	"time"

	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
	"google.golang.org/protobuf/proto"
)

// benchSessionRequest is the HandleSession request of the host's
// BenchmarkPluginEventCall: a periodic Inform with six parameters.
func benchSessionRequest() *pluginv1.HandleSessionRequest {
	req := &pluginv1.HandleSessionRequest{SessionId: "bench-session", Session: 1 << 62, StartUnixNano: time.Now().UnixNano(),
		Device: &pluginv1.Device{Id: "00AABB-Box-S1", Manufacturer: "Testco", Oui: "00AABB", ProductClass: "Box", SerialNumber: "S1",
			Root: "Device.", CwmpVersion: "1.4"},
		Events: []*pluginv1.Event{{Code: "2 PERIODIC"}}}
	for _, p := range [][2]string{
		{"Device.DeviceInfo.SoftwareVersion", "2.4.1"}, {"Device.DeviceInfo.HardwareVersion", "r1"},
		{"Device.DeviceInfo.ProvisioningCode", ""}, {"Device.ManagementServer.ConnectionRequestURL", "http://192.0.2.1:7547/x"},
		{"Device.ManagementServer.ParameterKey", ""}, {"Device.RootDataModelVersion", "2.15"},
	} {
		req.InformParameters = append(req.InformParameters, &pluginv1.ParameterValue{Name: p[0], Value: p[1], Type: "xsd:string"})
	}
	return req
}

// BenchmarkServerHandleSession is the SDK's own share of a host → plugin
// event call, without gRPC: the request decoded from the wire, turned
// into a Session and handed to a handler that returns at once.
func BenchmarkServerHandleSession(b *testing.B) {
	opts := &ServeOpts{ID: "bench", Events: Events{EventInform: func(context.Context, Session) error { return nil }}}
	s := newServer(opts, newLogger(io.Discard, opts.ID), nil)
	s.host = pluginv1.NewHostClient(nil) // never called: the handler makes no calls
	wire, err := proto.Marshal(benchSessionRequest())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req := &pluginv1.HandleSessionRequest{}
		if err := proto.Unmarshal(wire, req); err != nil {
			b.Fatal(err)
		}
		resp, err := s.HandleSession(ctx, req)
		if err != nil || len(resp.Errors) > 0 {
			b.Fatal(err, resp)
		}
	}
}
