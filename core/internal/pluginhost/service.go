package pluginhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/store"
	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// service is the Host side of provisor.plugin.v1 for one plugin process,
// served over that process's GRPCBroker. It reaches live sessions only
// through the handles its plugin was given, so one plugin can never act
// on a session handed to another.
type service struct {
	pluginv1.UnimplementedHostServer
	plugin string
	opts   *Options

	mu       sync.Mutex
	sessions map[uint64]*liveSession
}

func newService(plugin string, opts *Options) *service {
	return &service{plugin: plugin, opts: opts, sessions: map[uint64]*liveSession{}}
}

// liveSession is a hook.Session lent to the plugin for one call. Its
// mutex is held while a callback runs on the session: the session
// goroutine is parked in that call meanwhile, and the lock both keeps
// callbacks one at a time and orders their effects before the call
// returns.
type liveSession struct {
	s      hook.Session
	calls  bool // device calls allowed (not in the CPE's request phase)
	mu     sync.Mutex
	closed bool
	ended  error // the first error that said the device is gone
	pause  func()
	resume func()

	// taskKey, for a function run as a task, is the task's command key:
	// the first Download or Upload the plugin starts without a key of
	// its own gets it (keyUsed), so that its TransferComplete ends the
	// task.
	taskKey string
	keyUsed bool
	// transfers are the Downloads and Uploads the device accepted during
	// the loan; lastFault is the device's fault to the latest call, nil
	// once a later call succeeded.
	transfers []startedTransfer
	lastFault *cwmp.Fault
}

// startedTransfer is a Download or Upload the device accepted.
type startedTransfer struct {
	CommandKey string
	FileType   string
	// Status 1: the device reports the end in a TransferComplete.
	Status int
}

// endedErr is the error that ended the session during the loan, if any;
// read it once the loan is over.
func (ls *liveSession) endedErr() error {
	if ls == nil {
		return nil
	}
	return ls.ended
}

// transferKey picks the command key of a Download or Upload: the
// plugin's own, else the task's (once), else a fresh one.
func (sv *service) transferKey(ls *liveSession, k string) string {
	if k == "" && ls.taskKey != "" && !ls.keyUsed {
		ls.keyUsed = true
		return ls.taskKey
	}
	return sv.commandKey(k)
}

func randomHandle() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1 // never 0, which means "no session"
}

func (sv *service) open(s hook.Session, calls bool, taskKey string, pause, resume func()) (uint64, *liveSession) {
	ls := &liveSession{s: s, calls: calls, taskKey: taskKey, pause: pause, resume: resume}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	for {
		h := randomHandle()
		if _, dup := sv.sessions[h]; !dup {
			sv.sessions[h] = ls
			return h, ls
		}
	}
}

// close ends the loan; it waits for a callback still running so that
// nothing touches the session once the call that lent it has returned.
func (sv *service) close(h uint64) {
	sv.mu.Lock()
	ls := sv.sessions[h]
	delete(sv.sessions, h)
	sv.mu.Unlock()
	if ls != nil {
		ls.mu.Lock()
		ls.closed = true
		ls.mu.Unlock()
	}
}

// acquire locks the session of a handle for one callback.
func (sv *service) acquire(h uint64) (*liveSession, error) {
	sv.mu.Lock()
	ls := sv.sessions[h]
	sv.mu.Unlock()
	if ls == nil {
		return nil, status.Error(codes.NotFound, "no live session for this handle: the call that lent it is over")
	}
	ls.mu.Lock()
	if ls.closed {
		ls.mu.Unlock()
		return nil, status.Error(codes.NotFound, "the session's call is over")
	}
	if ls.pause != nil {
		ls.pause()
	}
	return ls, nil
}

func (ls *liveSession) release() {
	if ls.resume != nil {
		ls.resume()
	}
	ls.mu.Unlock()
}

// sessionError maps a hook.Session error to the status the SDK reads.
func sessionError(err error) error {
	switch {
	case errors.Is(err, hook.ErrSessionEnded):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, hook.ErrNotNow):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

func (sv *service) commandKey(k string) string {
	if k != "" {
		return k
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "x-" + sv.plugin + "-" + hex.EncodeToString(b[:])
}

func (sv *service) Call(ctx context.Context, req *pluginv1.CallRequest) (*pluginv1.CallResponse, error) {
	ls, err := sv.acquire(req.Session)
	if err != nil {
		return nil, err
	}
	defer ls.release()
	if ls.ended != nil {
		return nil, status.Error(codes.Aborted, ls.ended.Error())
	}
	if !ls.calls {
		return nil, status.Error(codes.FailedPrecondition, hook.ErrNotNow.Error())
	}
	body, err := sv.requestBody(ctx, ls, req)
	if err != nil {
		return nil, err
	}
	resp, err := ls.s.Call(ctx, body)
	if err != nil {
		var f *cwmp.Fault
		if errors.As(err, &f) {
			ls.lastFault = f
			if key := transferCommandKey(body); key != "" && key == ls.taskKey {
				ls.keyUsed = false // refused: a retry may carry the task's key
			}
			return &pluginv1.CallResponse{Fault: faultToProto(f)}, nil
		}
		if errors.Is(err, hook.ErrSessionEnded) {
			ls.ended = err
		}
		return nil, sessionError(err)
	}
	ls.lastFault = nil
	ls.noteTransfer(body, resp)
	out, err := resultToProto(body, resp)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return out, nil
}

// typed fills in a value's type when the plugin left it to the ACS: what
// the device last reported, else the data model's type at encoding time.
func typed(ctx context.Context, s hook.Session, v *pluginv1.ParameterValue) cwmp.Value {
	if v.Type != "" {
		return cwmp.Value{Type: cwmp.ParseType(v.Type), Text: v.Value}
	}
	if p, ok, err := s.Value(ctx, v.Name); err == nil && ok && p.Type != "" {
		return cwmp.Value{Type: cwmp.ParseType(p.Type), Text: v.Value}
	}
	return cwmp.Value{Text: v.Value, Untyped: true}
}

// transferCommandKey is the command key of a Download or Upload, "" for
// other requests.
func transferCommandKey(b cwmp.Body) string {
	switch r := b.(type) {
	case *cwmp.Download:
		return r.CommandKey
	case *cwmp.Upload:
		return r.CommandKey
	}
	return ""
}

// noteTransfer records a Download or Upload the device accepted.
func (ls *liveSession) noteTransfer(req, resp cwmp.Body) {
	switch r := req.(type) {
	case *cwmp.Download:
		if x, ok := resp.(*cwmp.DownloadResponse); ok {
			ls.transfers = append(ls.transfers, startedTransfer{CommandKey: r.CommandKey, FileType: r.FileType, Status: x.Status})
		}
	case *cwmp.Upload:
		if x, ok := resp.(*cwmp.UploadResponse); ok {
			ls.transfers = append(ls.transfers, startedTransfer{CommandKey: r.CommandKey, FileType: r.FileType, Status: x.Status})
		}
	}
}

func (sv *service) requestBody(ctx context.Context, ls *liveSession, req *pluginv1.CallRequest) (cwmp.Body, error) {
	s := ls.s
	switch op := req.Op.(type) {
	case *pluginv1.CallRequest_GetParameterValues:
		return &cwmp.GetParameterValues{ParameterNames: op.GetParameterValues.Names}, nil
	case *pluginv1.CallRequest_SetParameterValues:
		r := &cwmp.SetParameterValues{ParameterKey: op.SetParameterValues.ParameterKey}
		for _, v := range op.SetParameterValues.Values {
			r.ParameterList = append(r.ParameterList, cwmp.ParameterValue{Name: v.Name, Value: typed(ctx, s, v)})
		}
		return r, nil
	case *pluginv1.CallRequest_GetParameterNames:
		return &cwmp.GetParameterNames{ParameterPath: op.GetParameterNames.Path, NextLevel: op.GetParameterNames.NextLevel}, nil
	case *pluginv1.CallRequest_GetParameterAttributes:
		return &cwmp.GetParameterAttributes{ParameterNames: op.GetParameterAttributes.Names}, nil
	case *pluginv1.CallRequest_SetParameterAttributes:
		r := &cwmp.SetParameterAttributes{}
		for _, a := range op.SetParameterAttributes.Attributes {
			r.ParameterList = append(r.ParameterList, cwmp.SetParameterAttributesStruct{Name: a.Name,
				NotificationChange: a.NotificationChange, Notification: int(a.Notification),
				AccessListChange: a.AccessListChange, AccessList: a.AccessList})
		}
		return r, nil
	case *pluginv1.CallRequest_AddObject:
		return &cwmp.AddObject{ObjectName: op.AddObject.ObjectName, ParameterKey: op.AddObject.ParameterKey}, nil
	case *pluginv1.CallRequest_DeleteObject:
		return &cwmp.DeleteObject{ObjectName: op.DeleteObject.ObjectName, ParameterKey: op.DeleteObject.ParameterKey}, nil
	case *pluginv1.CallRequest_Download:
		d := op.Download
		return &cwmp.Download{CommandKey: sv.transferKey(ls, d.CommandKey), FileType: d.FileType, URL: d.Url, Username: d.Username,
			Password: d.Password, FileSize: d.FileSize, TargetFileName: d.TargetFileName, DelaySeconds: d.DelaySeconds}, nil
	case *pluginv1.CallRequest_Upload:
		u := op.Upload
		return &cwmp.Upload{CommandKey: sv.transferKey(ls, u.CommandKey), FileType: u.FileType, URL: u.Url, Username: u.Username,
			Password: u.Password, DelaySeconds: u.DelaySeconds}, nil
	case *pluginv1.CallRequest_Reboot:
		return &cwmp.Reboot{CommandKey: sv.commandKey(op.Reboot.CommandKey)}, nil
	case *pluginv1.CallRequest_FactoryReset:
		return &cwmp.FactoryReset{}, nil
	case *pluginv1.CallRequest_ScheduleInform:
		return &cwmp.ScheduleInform{DelaySeconds: op.ScheduleInform.DelaySeconds, CommandKey: sv.commandKey(op.ScheduleInform.CommandKey)}, nil
	case *pluginv1.CallRequest_GetRpcMethods:
		return &cwmp.GetRPCMethods{}, nil
	}
	return nil, status.Error(codes.Unimplemented, "a device call this host does not know")
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func faultToProto(f *cwmp.Fault) *pluginv1.Fault {
	out := &pluginv1.Fault{Code: uint32(f.Code), Message: f.String}
	for _, p := range f.SetParameterValuesFaults {
		out.ParameterFaults = append(out.ParameterFaults, &pluginv1.ParameterFault{Name: p.ParameterName, Code: uint32(p.FaultCode), Message: p.FaultString})
	}
	return out
}

type unexpectedError struct{ req, resp string }

func (e unexpectedError) Error() string { return "device answered " + e.req + " with " + e.resp }

func resultToProto(req, resp cwmp.Body) (*pluginv1.CallResponse, error) {
	out := &pluginv1.CallResponse{}
	bad := func() (*pluginv1.CallResponse, error) {
		name := "an empty message"
		if resp != nil {
			name = resp.Method()
		}
		return nil, unexpectedError{req.Method(), name}
	}
	switch r := req.(type) {
	case *cwmp.GetParameterValues:
		x, ok := resp.(*cwmp.GetParameterValuesResponse)
		if !ok {
			return bad()
		}
		res := &pluginv1.GetParameterValuesResult{Values: make([]*pluginv1.ParameterValue, len(x.ParameterList))}
		for i, p := range x.ParameterList {
			res.Values[i] = &pluginv1.ParameterValue{Name: p.Name, Value: p.Value.Text, Type: string(p.Value.Type)}
		}
		out.Result = &pluginv1.CallResponse_GetParameterValues{GetParameterValues: res}
	case *cwmp.SetParameterValues:
		x, ok := resp.(*cwmp.SetParameterValuesResponse)
		if !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_SetParameterValues{SetParameterValues: &pluginv1.SetParameterValuesResult{Status: int32(x.Status)}}
	case *cwmp.GetParameterNames:
		x, ok := resp.(*cwmp.GetParameterNamesResponse)
		if !ok {
			return bad()
		}
		res := &pluginv1.GetParameterNamesResult{Parameters: make([]*pluginv1.ParameterInfo, len(x.ParameterList))}
		for i, p := range x.ParameterList {
			res.Parameters[i] = &pluginv1.ParameterInfo{Name: p.Name, Writable: p.Writable}
		}
		out.Result = &pluginv1.CallResponse_GetParameterNames{GetParameterNames: res}
	case *cwmp.GetParameterAttributes:
		x, ok := resp.(*cwmp.GetParameterAttributesResponse)
		if !ok {
			return bad()
		}
		res := &pluginv1.GetParameterAttributesResult{}
		for _, a := range x.ParameterList {
			res.Attributes = append(res.Attributes, &pluginv1.ParameterAttribute{Name: a.Name, Notification: int32(a.Notification), AccessList: a.AccessList})
		}
		out.Result = &pluginv1.CallResponse_GetParameterAttributes{GetParameterAttributes: res}
	case *cwmp.SetParameterAttributes:
		if _, ok := resp.(*cwmp.SetParameterAttributesResponse); !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_SetParameterAttributes{SetParameterAttributes: &pluginv1.Empty{}}
	case *cwmp.AddObject:
		x, ok := resp.(*cwmp.AddObjectResponse)
		if !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_AddObject{AddObject: &pluginv1.AddObjectResult{InstanceNumber: x.InstanceNumber, Status: int32(x.Status)}}
	case *cwmp.DeleteObject:
		x, ok := resp.(*cwmp.DeleteObjectResponse)
		if !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_DeleteObject{DeleteObject: &pluginv1.DeleteObjectResult{Status: int32(x.Status)}}
	case *cwmp.Download:
		x, ok := resp.(*cwmp.DownloadResponse)
		if !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_Download{Download: &pluginv1.TransferResult{CommandKey: r.CommandKey, Status: int32(x.Status),
			StartUnixNano: unixNano(x.StartTime), CompleteUnixNano: unixNano(x.CompleteTime)}}
	case *cwmp.Upload:
		x, ok := resp.(*cwmp.UploadResponse)
		if !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_Upload{Upload: &pluginv1.TransferResult{CommandKey: r.CommandKey, Status: int32(x.Status),
			StartUnixNano: unixNano(x.StartTime), CompleteUnixNano: unixNano(x.CompleteTime)}}
	case *cwmp.Reboot:
		if _, ok := resp.(*cwmp.RebootResponse); !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_Reboot{Reboot: &pluginv1.Empty{}}
	case *cwmp.FactoryReset:
		if _, ok := resp.(*cwmp.FactoryResetResponse); !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_FactoryReset{FactoryReset: &pluginv1.Empty{}}
	case *cwmp.ScheduleInform:
		if _, ok := resp.(*cwmp.ScheduleInformResponse); !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_ScheduleInform{ScheduleInform: &pluginv1.Empty{}}
	case *cwmp.GetRPCMethods:
		x, ok := resp.(*cwmp.GetRPCMethodsResponse)
		if !ok {
			return bad()
		}
		out.Result = &pluginv1.CallResponse_GetRpcMethods{GetRpcMethods: &pluginv1.GetRPCMethodsResult{Methods: x.MethodList}}
	default:
		return bad()
	}
	return out, nil
}

func paramToProto(p store.Param) *pluginv1.Param {
	return &pluginv1.Param{Name: p.Name, Value: p.Value, Type: p.Type, Writable: int32(p.Writable), Object: p.Object,
		ReadUnixNano: unixNano(p.ReadAt), SetUnixNano: unixNano(p.SetAt)}
}

func (sv *service) Cached(ctx context.Context, req *pluginv1.CachedRequest) (*pluginv1.CachedResponse, error) {
	ls, err := sv.acquire(req.Session)
	if err != nil {
		return nil, err
	}
	defer ls.release()
	out := &pluginv1.CachedResponse{}
	if strings.HasSuffix(req.Path, ".") || req.Path == "" {
		ps, err := ls.s.Values(ctx, req.Path)
		if err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		if max := sv.opts.MaxCachedParams; len(ps) > max {
			return nil, status.Errorf(codes.ResourceExhausted, "%d parameters under %q; the limit is %d", len(ps), req.Path, max)
		}
		for _, p := range ps {
			out.Params = append(out.Params, paramToProto(p))
		}
		return out, nil
	}
	p, ok, err := ls.s.Value(ctx, req.Path)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if ok {
		out.Params = append(out.Params, paramToProto(p))
	}
	return out, nil
}

// withDevice runs a store write that needs the device's row. A device in
// its first session has none yet (the session writes it when it ends), so
// for a device the plugin holds a live session of, a minimal row is made
// first, as scripts do.
func (sv *service) withDevice(ctx context.Context, deviceID string, f func() error) error {
	err := f()
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	var dev *hook.Device
	sv.mu.Lock()
	for _, ls := range sv.sessions {
		if d := ls.s.Device(); d.ID == deviceID {
			dev = &d
			break
		}
	}
	sv.mu.Unlock()
	if dev == nil {
		return err
	}
	if err := sv.opts.Store.UpsertDevice(ctx, store.Device{ID: dev.ID, OUI: dev.OUI, ProductClass: dev.ProductClass,
		SerialNumber: dev.SerialNumber, Manufacturer: dev.Manufacturer}); err != nil {
		return err
	}
	return f()
}

func (sv *service) Tag(ctx context.Context, req *pluginv1.TagRequest) (*pluginv1.TagResponse, error) {
	if sv.opts.Store == nil {
		return nil, status.Error(codes.Unimplemented, "this host keeps no tags")
	}
	dev := req.DeviceId
	if req.Session != 0 {
		ls, err := sv.acquire(req.Session)
		if err != nil {
			return nil, err
		}
		dev = ls.s.Device().ID
		ls.release()
	}
	if dev == "" {
		return nil, status.Error(codes.InvalidArgument, "no device")
	}
	for _, t := range append(slices.Clone(req.Add), req.Remove...) {
		if err := store.CheckTag(t); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if len(req.Add) > 0 {
		if err := sv.withDevice(ctx, dev, func() error { return sv.opts.Store.AddTags(ctx, dev, req.Add...) }); err != nil {
			return nil, storeError(err)
		}
	}
	if len(req.Remove) > 0 {
		err := sv.opts.Store.RemoveTags(ctx, dev, req.Remove...)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, storeError(err)
		}
	}
	return &pluginv1.TagResponse{}, nil
}

func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

// kvKey keeps each plugin's data apart from scripts' and other plugins'.
func (sv *service) kvKey(key string) (string, error) {
	if key == "" {
		return "", status.Error(codes.InvalidArgument, "empty key")
	}
	return "x/" + sv.plugin + "/" + key, nil
}

func (sv *service) KVGet(ctx context.Context, req *pluginv1.KVGetRequest) (*pluginv1.KVGetResponse, error) {
	if sv.opts.Store == nil {
		return nil, status.Error(codes.Unimplemented, "this host keeps no data")
	}
	k, err := sv.kvKey(req.Key)
	if err != nil {
		return nil, err
	}
	v, err := sv.opts.Store.Data(ctx, req.DeviceId, k)
	if errors.Is(err, store.ErrNotFound) {
		return &pluginv1.KVGetResponse{}, nil
	}
	if err != nil {
		return nil, storeError(err)
	}
	return &pluginv1.KVGetResponse{Found: true, Value: v}, nil
}

func (sv *service) KVSet(ctx context.Context, req *pluginv1.KVSetRequest) (*pluginv1.KVSetResponse, error) {
	if sv.opts.Store == nil {
		return nil, status.Error(codes.Unimplemented, "this host keeps no data")
	}
	k, err := sv.kvKey(req.Key)
	if err != nil {
		return nil, err
	}
	if err := sv.withDevice(ctx, req.DeviceId, func() error { return sv.opts.Store.SetData(ctx, req.DeviceId, k, req.Value) }); err != nil {
		return nil, storeError(err)
	}
	return &pluginv1.KVSetResponse{}, nil
}

func (sv *service) KVDelete(ctx context.Context, req *pluginv1.KVDeleteRequest) (*pluginv1.KVDeleteResponse, error) {
	if sv.opts.Store == nil {
		return nil, status.Error(codes.Unimplemented, "this host keeps no data")
	}
	k, err := sv.kvKey(req.Key)
	if err != nil {
		return nil, err
	}
	if err := sv.opts.Store.DeleteData(ctx, req.DeviceId, k); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, storeError(err)
	}
	return &pluginv1.KVDeleteResponse{}, nil
}

func fileToProto(f FileInfo) *pluginv1.FileInfo {
	return &pluginv1.FileInfo{Id: f.ID, Name: f.Name, FileType: f.FileType, ContentType: f.ContentType, Size: f.Size, Sha256: f.SHA256,
		DeviceId: f.DeviceID, Version: f.Version, ProductClass: f.ProductClass, Oui: f.OUI, Metadata: f.Metadata, CreatedUnixNano: unixNano(f.Created)}
}

func (sv *service) files() (Files, error) {
	if sv.opts.Files == nil {
		return nil, status.Error(codes.Unimplemented, "this host has no file store")
	}
	return sv.opts.Files, nil
}

func (sv *service) FilePut(ctx context.Context, req *pluginv1.FilePutRequest) (*pluginv1.FilePutResponse, error) {
	fs, err := sv.files()
	if err != nil {
		return nil, err
	}
	if req.Info == nil || req.Info.Name == "" || strings.ContainsAny(req.Info.Name, `/\`) || req.Info.FileType == "" {
		return nil, status.Error(codes.InvalidArgument, "a file needs a name without path separators and a file type")
	}
	i := req.Info
	info, err := fs.Put(ctx, FileInfo{Name: i.Name, FileType: i.FileType, ContentType: i.ContentType, DeviceID: i.DeviceId,
		Version: i.Version, ProductClass: i.ProductClass, OUI: i.Oui, Plugin: sv.plugin, Metadata: i.Metadata}, bytes.NewReader(req.Data))
	if err != nil {
		return nil, storeError(err)
	}
	return &pluginv1.FilePutResponse{Info: fileToProto(info)}, nil
}

func (sv *service) FileList(ctx context.Context, req *pluginv1.FileListRequest) (*pluginv1.FileListResponse, error) {
	fs, err := sv.files()
	if err != nil {
		return nil, err
	}
	list, err := fs.List(ctx, FileQuery{NamePrefix: req.NamePrefix, FileType: req.FileType, DeviceID: req.DeviceId,
		Version: req.Version, ProductClass: req.ProductClass})
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	out := &pluginv1.FileListResponse{}
	for _, f := range list {
		out.Files = append(out.Files, fileToProto(f))
	}
	return out, nil
}

func (sv *service) ttl(secs int64) time.Duration {
	d := time.Duration(secs) * time.Second
	if d <= 0 || d > sv.opts.MaxURLTTL {
		d = sv.opts.MaxURLTTL
	}
	return d
}

func (sv *service) FileURL(ctx context.Context, req *pluginv1.FileURLRequest) (*pluginv1.FileURLResponse, error) {
	fs, err := sv.files()
	if err != nil {
		return nil, err
	}
	u, err := fs.URL(ctx, req.Name, sv.ttl(req.TtlSeconds))
	if err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	return &pluginv1.FileURLResponse{Url: u}, nil
}

func (sv *service) UploadURL(ctx context.Context, req *pluginv1.UploadURLRequest) (*pluginv1.UploadURLResponse, error) {
	fs, err := sv.files()
	if err != nil {
		return nil, err
	}
	u, err := fs.UploadURL(ctx, req.DeviceId, req.FileType, sv.ttl(req.TtlSeconds))
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &pluginv1.UploadURLResponse{Url: u}, nil
}
