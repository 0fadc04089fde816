package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// server is the plugin side of provisor.plugin.v1: it turns the host's
// calls into calls on the plugin's handlers.
type server struct {
	pluginv1.UnimplementedPluginServer
	opts *ServeOpts
	dial func(brokerID uint32) (pluginv1.HostClient, error)
	log  *slog.Logger

	mu    sync.Mutex
	host  pluginv1.HostClient
	setup bool
}

func newServer(opts *ServeOpts, log *slog.Logger, dial func(uint32) (pluginv1.HostClient, error)) *server {
	return &server{opts: opts, dial: dial, log: log}
}

func (s *server) hostClient() (pluginv1.HostClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host == nil {
		return nil, status.Error(codes.FailedPrecondition, "Describe has not been called")
	}
	return s.host, nil
}

// capabilities lists what the plugin offers, from the handlers it set.
func (o *ServeOpts) capabilities() []string {
	var caps []string
	add := func(set bool, name string) {
		if set {
			caps = append(caps, name)
		}
	}
	add(o.Events != nil, "events")
	add(o.CPERequests != nil, "cpe-requests")
	add(o.Functions != nil, "functions")
	add(o.Credentials != nil, "credentials")
	add(o.FileTypes != nil, "file-types")
	add(o.Profiles != nil, "profiles")
	return caps
}

func (s *server) Describe(ctx context.Context, req *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	if req.ProtocolMajor != 0 && req.ProtocolMajor != ProtocolMajor {
		return nil, status.Errorf(codes.FailedPrecondition, "plugin %s speaks provisor.plugin.v%d, the host v%d", s.opts.ID, ProtocolMajor, req.ProtocolMajor)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host == nil {
		hc, err := s.dial(req.HostBrokerId)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "dialling the host: %v", err)
		}
		s.host = hc
	}
	if !s.setup && s.opts.Setup != nil {
		h := &host{c: s.host, log: s.log, config: json.RawMessage(req.Config), caps: req.HostCapabilities}
		if err := safely(func() error { return s.opts.Setup(ctx, h) }); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "plugin %s set-up failed: %v", s.opts.ID, err)
		}
	}
	s.setup = true
	resp := &pluginv1.DescribeResponse{Id: s.opts.ID, Version: s.opts.Version, SdkVersion: Version, Capabilities: s.opts.capabilities()}
	if s.opts.Events != nil {
		resp.Events = s.opts.Events.Events()
	}
	if s.opts.Functions != nil {
		for _, f := range s.opts.Functions.Functions() {
			resp.Functions = append(resp.Functions, &pluginv1.FunctionInfo{Name: f.Name, Doc: f.Doc, NeedsSession: f.NeedsSession})
		}
	}
	if s.opts.FileTypes != nil {
		for _, t := range s.opts.FileTypes.FileTypes() {
			resp.FileTypes = append(resp.FileTypes, &pluginv1.FileType{Name: t.Name, Download: t.Download, Upload: t.Upload,
				Extension: t.Extension, ContentType: t.ContentType, Description: t.Description})
		}
	}
	if s.opts.Profiles != nil {
		for _, p := range s.opts.Profiles.Profiles() {
			resp.Profiles = append(resp.Profiles, profileToProto(p))
		}
	}
	return resp, nil
}

// safely runs plugin code so that a panic in one handler becomes that
// call's error instead of taking the process, and every other session
// served by it, down.
func safely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn()
}

func (s *server) newSession(hc pluginv1.HostClient, handle uint64, id string, dev *pluginv1.Device) *session {
	return &session{host: hc, handle: handle, id: id, dev: deviceFromProto(dev), baseLog: s.log}
}

func (s *server) HandleSession(ctx context.Context, req *pluginv1.HandleSessionRequest) (*pluginv1.HandleSessionResponse, error) {
	if s.opts.Events == nil {
		return nil, status.Error(codes.Unimplemented, "the plugin handles no events")
	}
	hc, err := s.hostClient()
	if err != nil {
		return nil, err
	}
	sess := s.newSession(hc, req.Session, req.SessionId, req.Device)
	sess.start = fromUnixNano(req.StartUnixNano)
	sess.inform = valuesFromProto(req.InformParameters)
	sess.events = make([]Event, len(req.Events))
	for i, e := range req.Events {
		sess.events[i] = Event{Code: e.Code, CommandKey: e.CommandKey}
	}
	err = safely(func() error { return s.opts.Events.HandleSession(ctx, sess) })
	return &pluginv1.HandleSessionResponse{Errors: errorLines(err)}, nil
}

// errorLines splits joined errors so the host records each on its own.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

func (s *server) HandleCPERequest(ctx context.Context, req *pluginv1.HandleCPERequestRequest) (*pluginv1.HandleCPERequestResponse, error) {
	if s.opts.CPERequests == nil {
		return nil, status.Error(codes.Unimplemented, "the plugin handles no CPE requests")
	}
	hc, err := s.hostClient()
	if err != nil {
		return nil, err
	}
	r := cpeRequestFromProto(req)
	if r == nil {
		return &pluginv1.HandleCPERequestResponse{}, nil // a request kind this SDK predates
	}
	sess := s.newSession(hc, req.Session, req.SessionId, req.Device)
	sess.start = fromUnixNano(req.StartUnixNano)
	err = safely(func() error { return s.opts.CPERequests.HandleCPERequest(ctx, sess, r) })
	if err != nil {
		return &pluginv1.HandleCPERequestResponse{Error: err.Error()}, nil
	}
	return &pluginv1.HandleCPERequestResponse{}, nil
}

func (s *server) CallFunction(ctx context.Context, req *pluginv1.CallFunctionRequest) (*pluginv1.CallFunctionResponse, error) {
	if s.opts.Functions == nil {
		return nil, status.Error(codes.Unimplemented, "the plugin exports no functions")
	}
	c := &Call{Name: req.Name, Device: deviceFromProto(req.Device)}
	for _, a := range req.Args {
		c.Args = append(c.Args, json.RawMessage(a))
	}
	if req.Session != 0 {
		hc, err := s.hostClient()
		if err != nil {
			return nil, err
		}
		sess := s.newSession(hc, req.Session, req.SessionId, req.Device)
		sess.start = fromUnixNano(req.StartUnixNano)
		c.Session = sess
	}
	var result any
	err := safely(func() error {
		var err error
		result, err = s.opts.Functions.CallFunction(ctx, c)
		return err
	})
	if err != nil {
		return &pluginv1.CallFunctionResponse{Error: err.Error()}, nil
	}
	b, err := json.Marshal(result)
	if err != nil {
		return &pluginv1.CallFunctionResponse{Error: fmt.Sprintf("%s: result is not JSON: %v", req.Name, err)}, nil
	}
	return &pluginv1.CallFunctionResponse{Result: b}, nil
}

func (s *server) Credentials(ctx context.Context, req *pluginv1.CredentialsRequest) (*pluginv1.CredentialsResponse, error) {
	if s.opts.Credentials == nil {
		return nil, status.Error(codes.Unimplemented, "the plugin provides no credentials")
	}
	var (
		c     Credentials
		found bool
	)
	err := safely(func() error {
		var err error
		c, found, err = s.opts.Credentials.Credentials(ctx, CredentialsRequest{Kind: req.Kind, Username: req.Username,
			Device: deviceFromProto(req.Device), RemoteIP: req.RemoteIp})
		return err
	})
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &pluginv1.CredentialsResponse{Found: found, Username: c.Username, Password: c.Password}, nil
}

func (s *server) HandleUpload(ctx context.Context, req *pluginv1.HandleUploadRequest) (*pluginv1.HandleUploadResponse, error) {
	if s.opts.FileTypes == nil {
		return nil, status.Error(codes.Unimplemented, "the plugin handles no file types")
	}
	var res UploadResult
	err := safely(func() error {
		var err error
		res, err = s.opts.FileTypes.HandleUpload(ctx, UploadedFile{Device: deviceFromProto(req.Device), FileType: req.FileType,
			Name: req.Name, Size: req.Size, Head: req.Head})
		return err
	})
	if err != nil {
		return &pluginv1.HandleUploadResponse{Error: err.Error()}, nil
	}
	return &pluginv1.HandleUploadResponse{Name: res.Name, Metadata: res.Metadata}, nil
}

var errNoID = errors.New("sdk: ServeOpts.ID is required")
