package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
)

// Handler is a plugin's place in the hook chain.
type Handler struct{ p *Plugin }

// Handler returns the plugin's hook handler.
func (p *Plugin) Handler() *Handler { return &Handler{p: p} }

// Name implements hook.Handler.
func (h *Handler) Name() string { return "plugin:" + h.p.m.ID }

// wants reports whether the session carries an event the plugin handles:
// the manifest's list, else what the plugin reported at its last start.
func (p *Plugin) wants(s hook.Session) bool {
	events := p.m.Events
	if len(events) == 0 {
		d := p.description()
		if d == nil {
			return true // never ran: let the call fail and say why
		}
		events = d.Events
	}
	keys := make([]string, 0, len(events))
	for _, e := range events {
		k := eventKey(e)
		if k == "inform" {
			return true
		}
		keys = append(keys, k)
	}
	for _, e := range s.Inform().Events {
		if slices.Contains(keys, eventKey(string(e.EventCode))) {
			return true
		}
	}
	return false
}

// Run implements hook.Handler: one HandleSession call carrying every
// event of the Inform, with the device calls it makes served on s.
func (h *Handler) Run(ctx context.Context, s hook.Session) error {
	p := h.p
	if !p.m.Matches(s.Device()) || !p.wants(s) {
		return nil
	}
	inst, err := p.instance()
	if err != nil {
		var ue *UnavailableError
		if errors.As(err, &ue) && ue.State == StateRefused {
			return nil // said at start and in Health; not again per session
		}
		p.failures.Add(1)
		return err
	}
	if !slices.Contains(inst.caps, "events") {
		return nil
	}
	p.calls.Add(1)
	in := s.Inform()
	req := &pluginv1.HandleSessionRequest{SessionId: s.ID(), Device: deviceToProto(s.Device()),
		StartUnixNano: unixNano(s.Start()), RetryCount: in.RetryCount}
	for _, e := range in.Events {
		req.Events = append(req.Events, &pluginv1.Event{Code: string(e.EventCode), CommandKey: e.CommandKey})
	}
	for _, v := range in.ParameterList {
		req.InformParameters = append(req.InformParameters, &pluginv1.ParameterValue{Name: v.Name, Value: v.Value.Text, Type: string(v.Value.Type)})
	}
	var resp *pluginv1.HandleSessionResponse
	ls, err := p.withSession(ctx, "HandleSession", inst, s, true, "", func(cctx context.Context, handle uint64) error {
		req.Session = handle
		var err error
		resp, err = inst.rpc.HandleSession(cctx, req)
		return err
	})
	if ended := ls.endedErr(); ended != nil {
		return fmt.Errorf("plugin %s: %w", p.m.ID, ended)
	}
	if err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return &CallError{Plugin: p.m.ID, Call: "HandleSession", Message: strings.Join(resp.Errors, "; ")}
	}
	return nil
}

// OnRequest implements hook.RequestHandler for plugins that handle CPE
// requests. A plugin that is down misses the request; the session and
// the CPE are not held up for it.
func (h *Handler) OnRequest(ctx context.Context, s hook.Session, body cwmp.Body) error {
	p := h.p
	if !p.m.Matches(s.Device()) || !p.has("cpe-requests") {
		return nil
	}
	req := &pluginv1.HandleCPERequestRequest{SessionId: s.ID(), Device: deviceToProto(s.Device()), StartUnixNano: unixNano(s.Start())}
	switch r := body.(type) {
	case *cwmp.TransferComplete:
		req.Request = &pluginv1.HandleCPERequestRequest_TransferComplete{TransferComplete: &pluginv1.TransferComplete{
			CommandKey: r.CommandKey, Fault: transferFault(r.FaultStruct), StartUnixNano: unixNano(r.StartTime), CompleteUnixNano: unixNano(r.CompleteTime)}}
	case *cwmp.AutonomousTransferComplete:
		req.Request = &pluginv1.HandleCPERequestRequest_AutonomousTransferComplete{AutonomousTransferComplete: &pluginv1.AutonomousTransferComplete{
			AnnounceUrl: r.AnnounceURL, TransferUrl: r.TransferURL, IsDownload: r.IsDownload, FileType: r.FileType, FileSize: r.FileSize,
			TargetFileName: r.TargetFileName, Fault: transferFault(r.FaultStruct), StartUnixNano: unixNano(r.StartTime), CompleteUnixNano: unixNano(r.CompleteTime)}}
	case *cwmp.RequestDownload:
		args := map[string]string{}
		for _, a := range r.FileTypeArg {
			args[a.Name] = a.Value
		}
		req.Request = &pluginv1.HandleCPERequestRequest_RequestDownload{RequestDownload: &pluginv1.RequestDownload{FileType: r.FileType, Args: args}}
	default:
		return nil
	}
	inst, err := p.instance()
	if err != nil {
		p.failures.Add(1)
		s.Logger().Warn("plugin missed a CPE request", "plugin", p.m.ID, "method", body.Method(), "err", err)
		return nil
	}
	p.calls.Add(1)
	var resp *pluginv1.HandleCPERequestResponse
	_, err = p.withSession(ctx, "HandleCPERequest", inst, s, false, "", func(cctx context.Context, handle uint64) error {
		req.Session = handle
		var err error
		resp, err = inst.rpc.HandleCPERequest(cctx, req)
		return err
	})
	if err != nil {
		return err
	}
	if resp.Error != "" {
		return &CallError{Plugin: p.m.ID, Call: "HandleCPERequest", Message: resp.Error}
	}
	return nil
}

func transferFault(f cwmp.FaultStruct) *pluginv1.Fault {
	if f.OK() {
		return nil
	}
	return &pluginv1.Fault{Code: uint32(f.FaultCode), Message: f.FaultString}
}

var (
	_ hook.Handler        = (*Handler)(nil)
	_ hook.RequestHandler = (*Handler)(nil)
)

// CPECredential implements hook.CredentialProvider for plugins that
// provide credentials. A plugin that should answer but cannot (it is
// down) fails the request, which the CPE retries, rather than letting the
// device fall through to the shared bootstrap credential.
func (h *Handler) CPECredential(ctx context.Context, q hook.CredentialQuery) (hook.CPECredential, bool, error) {
	p := h.p
	d := hook.Device{ID: q.DeviceID, Manufacturer: q.Device.Manufacturer, OUI: q.Device.OUI,
		ProductClass: q.Device.ProductClass, SerialNumber: q.Device.SerialNumber}
	if !p.m.Matches(d) || !p.has("credentials") {
		return hook.CPECredential{}, false, nil
	}
	user, pass, found, err := p.credentials(ctx, "cpe", q.Username, d, q.RemoteIP)
	if err != nil || !found {
		return hook.CPECredential{}, false, err
	}
	return hook.CPECredential{Username: user, Password: pass}, true, nil
}

var _ hook.CredentialProvider = (*Handler)(nil)
