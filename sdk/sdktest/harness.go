// Package sdktest runs a plugin in-process against simulated devices, so
// that a plugin author can test handlers and functions without an ACS:
//
//	h := sdktest.New(t, opts)
//	d := sdktest.NewDevice("Acme", "00AABB", "Router", "S1")
//	d.SetParam("Device.ManagementServer.PeriodicInformInterval", "86400", "unsignedInt", true)
//	if err := h.Session(ctx, d, sdk.EventBootstrap); err != nil { … }
//	// d.RPCs() lists what the plugin sent; d.Value reads the result.
//
// The harness calls the plugin through the same code as the ACS does,
// with every message converted to the wire format and back; only the
// process boundary is left out.
package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/sdk"
	"github.com/provisor/provisor/sdk/internal/bridge"
	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
)

// FileBaseURL prefixes the URLs the harness's file store hands out.
const FileBaseURL = "http://files.sdktest.invalid/"

// Option configures a Harness.
type Option func(*Harness)

// WithConfig passes v, encoded as JSON, as the plugin's configuration.
func WithConfig(v any) Option {
	return func(h *Harness) {
		b, err := json.Marshal(v)
		if err != nil {
			h.t.Fatalf("sdktest: config: %v", err)
		}
		h.config = b
	}
}

// WithLogger sends the plugin's log to l instead of the test log.
func WithLogger(l *slog.Logger) Option { return func(h *Harness) { h.log = l } }

// Harness hosts one plugin in-process.
type Harness struct {
	t      testing.TB
	opts   *sdk.ServeOpts
	srv    pluginv1.PluginServer
	host   *fakeHost
	config []byte
	log    *slog.Logger
	desc   *pluginv1.DescribeResponse
}

// New starts the plugin: it runs the plugin's Setup, as the ACS would,
// and fails the test if the plugin does not start.
func New(t testing.TB, opts *sdk.ServeOpts, options ...Option) *Harness {
	t.Helper()
	h := &Harness{t: t, opts: opts}
	for _, o := range options {
		o(h)
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h.host = newFakeHost(opts.ID)
	srv, err := bridge.NewServer(opts, h.log.With("plugin", opts.ID), h.host)
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	h.srv = srv
	desc, err := srv.Describe(context.Background(), &pluginv1.DescribeRequest{
		ProtocolMajor: sdk.ProtocolMajor, HostVersion: "sdktest",
		HostCapabilities: []string{"session", "cached", "tags", "kv", "files", "upload-url"},
		Config:           h.config,
	})
	if err != nil {
		t.Fatalf("sdktest: plugin did not start: %v", err)
	}
	h.desc = desc
	return h
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Capabilities lists what the plugin announced ("events", "functions", …).
func (h *Harness) Capabilities() []string { return h.desc.Capabilities }

// Events lists the event codes the plugin announced.
func (h *Harness) Events() []string { return h.desc.Events }

// Functions lists the functions the plugin exports.
func (h *Harness) Functions() []sdk.FunctionInfo {
	out := make([]sdk.FunctionInfo, len(h.desc.Functions))
	for i, f := range h.desc.Functions {
		out[i] = sdk.FunctionInfo{Name: f.Name, Doc: f.Doc, NeedsSession: f.NeedsSession}
	}
	return out
}

func deviceProto(d sdk.Device) *pluginv1.Device {
	return &pluginv1.Device{Id: d.ID, Manufacturer: d.Manufacturer, Oui: d.OUI, ProductClass: d.ProductClass,
		SerialNumber: d.SerialNumber, New: d.New, Root: d.Root, CwmpVersion: d.CWMPVersion}
}

// Session runs the plugin's event handlers for one session of d whose
// Inform carries the events, and the parameters every Inform carries
// (SoftwareVersion, ProvisioningCode, … as far as d has them). The error
// joins the handler errors.
func (h *Harness) Session(ctx context.Context, d *Device, events ...string) error {
	handle := h.host.open(d, false)
	defer h.host.close(handle)
	req := &pluginv1.HandleSessionRequest{Session: handle, SessionId: fmt.Sprintf("sdktest-%d", handle),
		Device: deviceProto(d.Info()), StartUnixNano: time.Now().UnixNano(), InformParameters: valuesProto(d.informParameters())}
	for _, e := range events {
		req.Events = append(req.Events, &pluginv1.Event{Code: e})
	}
	resp, err := h.srv.HandleSession(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range resp.Errors {
		errs = append(errs, errors.New(e))
	}
	return errors.Join(errs...)
}

// Call calls an exported function inside a session of d, as a script
// handler does, and returns its JSON result.
func (h *Harness) Call(ctx context.Context, d *Device, name string, args ...any) (json.RawMessage, error) {
	handle := h.host.open(d, false)
	defer h.host.close(handle)
	return h.call(ctx, handle, d, name, args)
}

// CallOutside calls an exported function with no session, as the API
// does; d may be nil.
func (h *Harness) CallOutside(ctx context.Context, d *Device, name string, args ...any) (json.RawMessage, error) {
	return h.call(ctx, 0, d, name, args)
}

func (h *Harness) call(ctx context.Context, handle uint64, d *Device, name string, args []any) (json.RawMessage, error) {
	req := &pluginv1.CallFunctionRequest{Name: name, Session: handle}
	if d != nil {
		req.Device = deviceProto(d.Info())
		req.SessionId = fmt.Sprintf("sdktest-%d", handle)
		req.StartUnixNano = time.Now().UnixNano()
	}
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		req.Args = append(req.Args, b)
	}
	resp, err := h.srv.CallFunction(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	return resp.Result, nil
}

// CPERequest passes a request the CPE sent to the plugin's handler.
func (h *Harness) CPERequest(ctx context.Context, d *Device, r sdk.CPERequest) error {
	handle := h.host.open(d, true)
	defer h.host.close(handle)
	req := &pluginv1.HandleCPERequestRequest{Session: handle, Device: deviceProto(d.Info()), StartUnixNano: time.Now().UnixNano()}
	switch x := r.(type) {
	case *sdk.TransferComplete:
		tc := &pluginv1.TransferComplete{CommandKey: x.CommandKey, StartUnixNano: x.StartTime.UnixNano(), CompleteUnixNano: x.CompleteTime.UnixNano()}
		if x.Fault != nil {
			tc.Fault = &pluginv1.Fault{Code: x.Fault.Code, Message: x.Fault.Message}
		}
		req.Request = &pluginv1.HandleCPERequestRequest_TransferComplete{TransferComplete: tc}
	case *sdk.RequestDownload:
		req.Request = &pluginv1.HandleCPERequestRequest_RequestDownload{RequestDownload: &pluginv1.RequestDownload{FileType: x.FileType, Args: x.Args}}
	default:
		return fmt.Errorf("sdktest: %T not supported", r)
	}
	resp, err := h.srv.HandleCPERequest(ctx, req)
	if err != nil {
		return err
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	return nil
}

// Credentials asks the plugin's credential provider.
func (h *Harness) Credentials(ctx context.Context, r sdk.CredentialsRequest) (sdk.Credentials, bool, error) {
	resp, err := h.srv.Credentials(ctx, &pluginv1.CredentialsRequest{Kind: r.Kind, Username: r.Username, Device: deviceProto(r.Device), RemoteIp: r.RemoteIP})
	if err != nil {
		return sdk.Credentials{}, false, err
	}
	return sdk.Credentials{Username: resp.Username, Password: resp.Password}, resp.Found, nil
}

// Upload passes an uploaded file to the plugin's file-type handler.
func (h *Harness) Upload(ctx context.Context, f sdk.UploadedFile) (sdk.UploadResult, error) {
	resp, err := h.srv.HandleUpload(ctx, &pluginv1.HandleUploadRequest{Device: deviceProto(f.Device), FileType: f.FileType, Name: f.Name, Size: f.Size, Head: f.Head})
	if err != nil {
		return sdk.UploadResult{}, err
	}
	if resp.Error != "" {
		return sdk.UploadResult{}, errors.New(resp.Error)
	}
	return sdk.UploadResult{Name: resp.Name, Metadata: resp.Metadata}, nil
}

// File is a file in the harness's file store.
type File struct {
	sdk.FileInfo
	Data []byte
}

// PutFile stores a file, as an operator would upload firmware.
func (h *Harness) PutFile(info sdk.FileInfo, data []byte) { h.host.put(info, data) }

// File returns a stored file by name.
func (h *Harness) File(name string) (File, bool) { return h.host.file(name) }

// FileAt returns the stored file a URL the harness handed out points at.
func (h *Harness) FileAt(url string) (File, bool) {
	name, ok := strings.CutPrefix(url, FileBaseURL)
	if !ok {
		return File{}, false
	}
	name, _, _ = strings.Cut(name, "?")
	return h.host.file(name)
}

// Files lists the stored files.
func (h *Harness) Files() []File { return h.host.list() }

// KV reads the plugin's per-device data.
func (h *Harness) KV(deviceID, key string) ([]byte, bool) { return h.host.kvGet(deviceID, key) }
