package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Session is a live CWMP session, the Go twin of a script handler's `s`.
// Each device method is one RPC: it is sent in the ACS's next HTTP
// response and blocks until the device's answer comes back in its next
// POST. A device that refuses gives a *Fault error; a device that is gone
// gives ErrSessionEnded. A Session is valid only while the handler that
// received it runs; calls are serialised.
type Session interface {
	// ID is the session's id, also on the ACS's log lines.
	ID() string
	Device() Device
	// Events are the Inform's events.
	Events() []Event
	// HasEvent reports whether the Inform carried the event code.
	HasEvent(code string) bool
	// InformParameters are the parameter values the Inform carried.
	InformParameters() []ParameterValue
	// Start is when the session began; use it as "now".
	Start() time.Time
	// Logger logs with the device and session attached.
	Logger() *slog.Logger

	GetParameterValues(ctx context.Context, names ...string) ([]ParameterValue, error)
	// SetParameterValues sets values atomically; status 1 means the device
	// applies them later (typically after a reboot).
	SetParameterValues(ctx context.Context, parameterKey string, values ...ParameterValue) (status int, err error)
	GetParameterNames(ctx context.Context, path string, nextLevel bool) ([]ParameterInfo, error)
	GetParameterAttributes(ctx context.Context, names ...string) ([]ParameterAttribute, error)
	SetParameterAttributes(ctx context.Context, attrs ...SetParameterAttribute) error
	AddObject(ctx context.Context, objectName, parameterKey string) (instance uint32, status int, err error)
	DeleteObject(ctx context.Context, objectName, parameterKey string) (status int, err error)
	Download(ctx context.Context, req DownloadRequest) (TransferResult, error)
	Upload(ctx context.Context, req UploadRequest) (TransferResult, error)
	Reboot(ctx context.Context, commandKey string) error
	FactoryReset(ctx context.Context) error
	ScheduleInform(ctx context.Context, delay time.Duration, commandKey string) error
	GetRPCMethods(ctx context.Context) ([]string, error)

	// Cached returns what the ACS knows of a parameter, without asking
	// the device.
	Cached(ctx context.Context, name string) (Param, bool, error)
	// CachedTree returns everything the ACS knows under a path ending in
	// ".", sorted by name.
	CachedTree(ctx context.Context, prefix string) ([]Param, error)
	// Tag and Untag add and remove device tags.
	Tag(ctx context.Context, tags ...string) error
	Untag(ctx context.Context, tags ...string) error
}

// session is Session over the host's gRPC service.
type session struct {
	host   pluginv1.HostClient
	handle uint64
	id     string
	dev    Device
	events []Event
	inform []ParameterValue
	start  time.Time

	// The logger with the device and session attached is made on first
	// use: most handlers of most sessions never log, and attaching the
	// attributes formats them.
	baseLog *slog.Logger
	logOnce sync.Once
	log     *slog.Logger
}

func (s *session) ID() string                         { return s.id }
func (s *session) Device() Device                     { return s.dev }
func (s *session) Events() []Event                    { return s.events }
func (s *session) InformParameters() []ParameterValue { return s.inform }
func (s *session) Start() time.Time                   { return s.start }

func (s *session) Logger() *slog.Logger {
	s.logOnce.Do(func() { s.log = s.baseLog.With("device", s.dev.ID, "session", s.id) })
	return s.log
}

func (s *session) HasEvent(code string) bool {
	k := EventKey(code)
	for _, e := range s.events {
		if EventKey(e.Code) == k {
			return true
		}
	}
	return false
}

// hostError turns a gRPC status from the host into the SDK's errors.
func hostError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Aborted, codes.NotFound:
		return fmt.Errorf("%w: %s", ErrSessionEnded, st.Message())
	case codes.FailedPrecondition:
		return fmt.Errorf("%w: %s", ErrNotNow, st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("%w: %s", ErrUnsupported, st.Message())
	case codes.Canceled, codes.DeadlineExceeded:
		return fmt.Errorf("%w: %s", context.Canceled, st.Message())
	}
	return errors.New(st.Message())
}

func (s *session) call(ctx context.Context, req *pluginv1.CallRequest) (*pluginv1.CallResponse, error) {
	req.Session = s.handle
	resp, err := s.host.Call(ctx, req)
	if err != nil {
		return nil, hostError(err)
	}
	if resp.Fault != nil {
		return nil, faultFromProto(resp.Fault)
	}
	return resp, nil
}

func unexpected(method string, resp *pluginv1.CallResponse) error {
	return fmt.Errorf("host answered %s with %T", method, resp.GetResult())
}

func (s *session) GetParameterValues(ctx context.Context, names ...string) ([]ParameterValue, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_GetParameterValues{GetParameterValues: &pluginv1.GetParameterValues{Names: names}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetGetParameterValues()
	if r == nil {
		return nil, unexpected("GetParameterValues", resp)
	}
	return valuesFromProto(r.Values), nil
}

func (s *session) SetParameterValues(ctx context.Context, key string, values ...ParameterValue) (int, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_SetParameterValues{SetParameterValues: &pluginv1.SetParameterValues{Values: valuesToProto(values), ParameterKey: key}}})
	if err != nil {
		return 0, err
	}
	r := resp.GetSetParameterValues()
	if r == nil {
		return 0, unexpected("SetParameterValues", resp)
	}
	return int(r.Status), nil
}

func (s *session) GetParameterNames(ctx context.Context, path string, nextLevel bool) ([]ParameterInfo, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_GetParameterNames{GetParameterNames: &pluginv1.GetParameterNames{Path: path, NextLevel: nextLevel}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetGetParameterNames()
	if r == nil {
		return nil, unexpected("GetParameterNames", resp)
	}
	out := make([]ParameterInfo, len(r.Parameters))
	for i, p := range r.Parameters {
		out[i] = ParameterInfo{Name: p.Name, Writable: p.Writable}
	}
	return out, nil
}

func (s *session) GetParameterAttributes(ctx context.Context, names ...string) ([]ParameterAttribute, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_GetParameterAttributes{GetParameterAttributes: &pluginv1.GetParameterAttributes{Names: names}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetGetParameterAttributes()
	if r == nil {
		return nil, unexpected("GetParameterAttributes", resp)
	}
	out := make([]ParameterAttribute, len(r.Attributes))
	for i, a := range r.Attributes {
		out[i] = ParameterAttribute{Name: a.Name, Notification: int(a.Notification), AccessList: a.AccessList}
	}
	return out, nil
}

func (s *session) SetParameterAttributes(ctx context.Context, attrs ...SetParameterAttribute) error {
	req := &pluginv1.SetParameterAttributes{}
	for _, a := range attrs {
		req.Attributes = append(req.Attributes, &pluginv1.SetParameterAttribute{
			Name: a.Name, NotificationChange: a.NotificationChange, Notification: int32(a.Notification),
			AccessListChange: a.AccessListChange, AccessList: a.AccessList,
		})
	}
	_, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_SetParameterAttributes{SetParameterAttributes: req}})
	return err
}

func (s *session) AddObject(ctx context.Context, object, key string) (uint32, int, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_AddObject{AddObject: &pluginv1.AddObject{ObjectName: object, ParameterKey: key}}})
	if err != nil {
		return 0, 0, err
	}
	r := resp.GetAddObject()
	if r == nil {
		return 0, 0, unexpected("AddObject", resp)
	}
	return r.InstanceNumber, int(r.Status), nil
}

func (s *session) DeleteObject(ctx context.Context, object, key string) (int, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_DeleteObject{DeleteObject: &pluginv1.DeleteObject{ObjectName: object, ParameterKey: key}}})
	if err != nil {
		return 0, err
	}
	r := resp.GetDeleteObject()
	if r == nil {
		return 0, unexpected("DeleteObject", resp)
	}
	return int(r.Status), nil
}

func (s *session) Download(ctx context.Context, d DownloadRequest) (TransferResult, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_Download{Download: &pluginv1.Download{
		CommandKey: d.CommandKey, FileType: d.FileType, Url: d.URL, Username: d.Username, Password: d.Password,
		FileSize: d.FileSize, TargetFileName: d.TargetFileName, DelaySeconds: d.DelaySeconds,
	}}})
	if err != nil {
		return TransferResult{}, err
	}
	r := resp.GetDownload()
	if r == nil {
		return TransferResult{}, unexpected("Download", resp)
	}
	return transferFromProto(r), nil
}

func (s *session) Upload(ctx context.Context, u UploadRequest) (TransferResult, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_Upload{Upload: &pluginv1.Upload{
		CommandKey: u.CommandKey, FileType: u.FileType, Url: u.URL, Username: u.Username, Password: u.Password,
		DelaySeconds: u.DelaySeconds,
	}}})
	if err != nil {
		return TransferResult{}, err
	}
	r := resp.GetUpload()
	if r == nil {
		return TransferResult{}, unexpected("Upload", resp)
	}
	return transferFromProto(r), nil
}

func (s *session) Reboot(ctx context.Context, key string) error {
	_, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_Reboot{Reboot: &pluginv1.Reboot{CommandKey: key}}})
	return err
}

func (s *session) FactoryReset(ctx context.Context) error {
	_, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_FactoryReset{FactoryReset: &pluginv1.FactoryReset{}}})
	return err
}

func (s *session) ScheduleInform(ctx context.Context, delay time.Duration, key string) error {
	secs := uint32(delay / time.Second)
	_, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_ScheduleInform{ScheduleInform: &pluginv1.ScheduleInform{DelaySeconds: secs, CommandKey: key}}})
	return err
}

func (s *session) GetRPCMethods(ctx context.Context) ([]string, error) {
	resp, err := s.call(ctx, &pluginv1.CallRequest{Op: &pluginv1.CallRequest_GetRpcMethods{GetRpcMethods: &pluginv1.GetRPCMethods{}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetGetRpcMethods()
	if r == nil {
		return nil, unexpected("GetRPCMethods", resp)
	}
	return r.Methods, nil
}

func (s *session) Cached(ctx context.Context, name string) (Param, bool, error) {
	resp, err := s.host.Cached(ctx, &pluginv1.CachedRequest{Session: s.handle, Path: name})
	if err != nil {
		return Param{}, false, hostError(err)
	}
	for _, p := range resp.Params {
		if p.Name == name {
			return paramFromProto(p), true, nil
		}
	}
	return Param{}, false, nil
}

func (s *session) CachedTree(ctx context.Context, prefix string) ([]Param, error) {
	resp, err := s.host.Cached(ctx, &pluginv1.CachedRequest{Session: s.handle, Path: prefix})
	if err != nil {
		return nil, hostError(err)
	}
	out := make([]Param, len(resp.Params))
	for i, p := range resp.Params {
		out[i] = paramFromProto(p)
	}
	return out, nil
}

func (s *session) Tag(ctx context.Context, tags ...string) error {
	_, err := s.host.Tag(ctx, &pluginv1.TagRequest{Session: s.handle, Add: tags})
	if err != nil {
		return hostError(err)
	}
	return nil
}

func (s *session) Untag(ctx context.Context, tags ...string) error {
	_, err := s.host.Tag(ctx, &pluginv1.TagRequest{Session: s.handle, Remove: tags})
	if err != nil {
		return hostError(err)
	}
	return nil
}

var _ Session = (*session)(nil)
