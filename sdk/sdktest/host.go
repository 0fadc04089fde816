package sdktest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/provisor/provisor/sdk"
	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeHost is the ACS's Host service in memory: sessions on simulated
// devices, per-device data and a file store.
type fakeHost struct {
	plugin string

	mu       sync.Mutex
	sessions map[uint64]*liveSession
	nextID   uint64
	kv       map[string][]byte
	files    map[string]File
	keys     int
}

type liveSession struct {
	d       *Device
	cpePart bool // the CPE is still sending requests: no device calls
	mu      sync.Mutex
}

func newFakeHost(plugin string) *fakeHost {
	return &fakeHost{plugin: plugin, sessions: map[uint64]*liveSession{}, kv: map[string][]byte{}, files: map[string]File{}}
}

func (h *fakeHost) open(d *Device, cpePart bool) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	h.sessions[h.nextID] = &liveSession{d: d, cpePart: cpePart}
	return h.nextID
}

func (h *fakeHost) close(id uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions, id)
}

func (h *fakeHost) session(id uint64) (*liveSession, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sessions[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "session %d is over", id)
	}
	return s, nil
}

func (h *fakeHost) commandKey(k string) string {
	if k != "" {
		return k
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys++
	return fmt.Sprintf("sdktest-%s-%d", h.plugin, h.keys)
}

func faultProto(f *sdk.Fault) *pluginv1.Fault {
	out := &pluginv1.Fault{Code: f.Code, Message: f.Message}
	for _, p := range f.ParameterFaults {
		out.ParameterFaults = append(out.ParameterFaults, &pluginv1.ParameterFault{Name: p.Name, Code: p.Code, Message: p.Message})
	}
	return out
}

func valuesProto(vs []sdk.ParameterValue) []*pluginv1.ParameterValue {
	out := make([]*pluginv1.ParameterValue, len(vs))
	for i, v := range vs {
		out[i] = &pluginv1.ParameterValue{Name: v.Name, Value: v.Value, Type: v.Type}
	}
	return out
}

func (h *fakeHost) Call(ctx context.Context, req *pluginv1.CallRequest, _ ...grpc.CallOption) (*pluginv1.CallResponse, error) {
	s, err := h.session(req.Session)
	if err != nil {
		return nil, err
	}
	if s.cpePart {
		return nil, status.Error(codes.FailedPrecondition, "device calls are not possible while the CPE is sending requests")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	resp := &pluginv1.CallResponse{}
	fault := func(f *sdk.Fault) (*pluginv1.CallResponse, error) {
		return &pluginv1.CallResponse{Fault: faultProto(f)}, nil
	}
	now := time.Now().UnixNano()
	switch op := req.Op.(type) {
	case *pluginv1.CallRequest_GetParameterValues:
		if f := d.record(RPC{Method: "GetParameterValues", Request: slices.Clone(op.GetParameterValues.Names)}); f != nil {
			return fault(f)
		}
		vals, f := d.getValues(op.GetParameterValues.Names)
		if f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_GetParameterValues{GetParameterValues: &pluginv1.GetParameterValuesResult{Values: valuesProto(vals)}}
	case *pluginv1.CallRequest_SetParameterValues:
		var vals []sdk.ParameterValue
		for _, v := range op.SetParameterValues.Values {
			vals = append(vals, sdk.ParameterValue{Name: v.Name, Value: v.Value, Type: v.Type})
		}
		if f := d.record(RPC{Method: "SetParameterValues", Request: vals}); f != nil {
			return fault(f)
		}
		if f := d.setValues(vals); f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_SetParameterValues{SetParameterValues: &pluginv1.SetParameterValuesResult{}}
	case *pluginv1.CallRequest_GetParameterNames:
		if f := d.record(RPC{Method: "GetParameterNames", Request: op.GetParameterNames.Path}); f != nil {
			return fault(f)
		}
		infos, f := d.names(op.GetParameterNames.Path, op.GetParameterNames.NextLevel)
		if f != nil {
			return fault(f)
		}
		r := &pluginv1.GetParameterNamesResult{}
		for _, p := range infos {
			r.Parameters = append(r.Parameters, &pluginv1.ParameterInfo{Name: p.Name, Writable: p.Writable})
		}
		resp.Result = &pluginv1.CallResponse_GetParameterNames{GetParameterNames: r}
	case *pluginv1.CallRequest_GetParameterAttributes:
		if f := d.record(RPC{Method: "GetParameterAttributes", Request: slices.Clone(op.GetParameterAttributes.Names)}); f != nil {
			return fault(f)
		}
		r := &pluginv1.GetParameterAttributesResult{}
		for _, n := range op.GetParameterAttributes.Names {
			if _, ok := d.params[n]; !ok {
				return fault(&sdk.Fault{Code: 9005, Message: "Invalid parameter name"})
			}
			a := d.attrs[n]
			r.Attributes = append(r.Attributes, &pluginv1.ParameterAttribute{Name: n, Notification: int32(a.Notification), AccessList: a.AccessList})
		}
		resp.Result = &pluginv1.CallResponse_GetParameterAttributes{GetParameterAttributes: r}
	case *pluginv1.CallRequest_SetParameterAttributes:
		var attrs []sdk.SetParameterAttribute
		for _, a := range op.SetParameterAttributes.Attributes {
			attrs = append(attrs, sdk.SetParameterAttribute{Name: a.Name, NotificationChange: a.NotificationChange,
				Notification: int(a.Notification), AccessListChange: a.AccessListChange, AccessList: a.AccessList})
		}
		if f := d.record(RPC{Method: "SetParameterAttributes", Request: attrs}); f != nil {
			return fault(f)
		}
		for _, a := range attrs {
			cur := d.attrs[a.Name]
			cur.Name = a.Name
			if a.NotificationChange {
				cur.Notification = a.Notification
			}
			if a.AccessListChange {
				cur.AccessList = a.AccessList
			}
			d.attrs[a.Name] = cur
		}
		resp.Result = &pluginv1.CallResponse_SetParameterAttributes{SetParameterAttributes: &pluginv1.Empty{}}
	case *pluginv1.CallRequest_AddObject:
		if f := d.record(RPC{Method: "AddObject", Request: op.AddObject.ObjectName}); f != nil {
			return fault(f)
		}
		n, f := d.addObject(op.AddObject.ObjectName)
		if f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_AddObject{AddObject: &pluginv1.AddObjectResult{InstanceNumber: n}}
	case *pluginv1.CallRequest_DeleteObject:
		if f := d.record(RPC{Method: "DeleteObject", Request: op.DeleteObject.ObjectName}); f != nil {
			return fault(f)
		}
		if f := d.deleteObject(op.DeleteObject.ObjectName); f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_DeleteObject{DeleteObject: &pluginv1.DeleteObjectResult{}}
	case *pluginv1.CallRequest_Download:
		x := op.Download
		r := sdk.DownloadRequest{CommandKey: h.commandKey(x.CommandKey), FileType: x.FileType, URL: x.Url, Username: x.Username,
			Password: x.Password, FileSize: x.FileSize, TargetFileName: x.TargetFileName, DelaySeconds: x.DelaySeconds}
		rpc := RPC{Method: "Download", Request: r}
		if f, ok := h.fileAt(x.Url); ok {
			rpc.File = f.Data
		}
		if f := d.record(rpc); f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_Download{Download: &pluginv1.TransferResult{CommandKey: r.CommandKey, Status: int32(d.TransferStatus), StartUnixNano: now, CompleteUnixNano: now}}
	case *pluginv1.CallRequest_Upload:
		x := op.Upload
		r := sdk.UploadRequest{CommandKey: h.commandKey(x.CommandKey), FileType: x.FileType, URL: x.Url, Username: x.Username,
			Password: x.Password, DelaySeconds: x.DelaySeconds}
		if f := d.record(RPC{Method: "Upload", Request: r}); f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_Upload{Upload: &pluginv1.TransferResult{CommandKey: r.CommandKey, Status: int32(d.TransferStatus), StartUnixNano: now, CompleteUnixNano: now}}
	case *pluginv1.CallRequest_Reboot:
		if f := d.record(RPC{Method: "Reboot", Request: op.Reboot.CommandKey}); f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_Reboot{Reboot: &pluginv1.Empty{}}
	case *pluginv1.CallRequest_FactoryReset:
		if f := d.record(RPC{Method: "FactoryReset"}); f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_FactoryReset{FactoryReset: &pluginv1.Empty{}}
	case *pluginv1.CallRequest_ScheduleInform:
		if f := d.record(RPC{Method: "ScheduleInform", Request: time.Duration(op.ScheduleInform.DelaySeconds) * time.Second}); f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_ScheduleInform{ScheduleInform: &pluginv1.Empty{}}
	case *pluginv1.CallRequest_GetRpcMethods:
		if f := d.record(RPC{Method: "GetRPCMethods"}); f != nil {
			return fault(f)
		}
		resp.Result = &pluginv1.CallResponse_GetRpcMethods{GetRpcMethods: &pluginv1.GetRPCMethodsResult{Methods: d.Methods}}
	default:
		return nil, status.Error(codes.Unimplemented, "unknown device call")
	}
	return resp, nil
}

func (h *fakeHost) Cached(ctx context.Context, req *pluginv1.CachedRequest, _ ...grpc.CallOption) (*pluginv1.CachedResponse, error) {
	s, err := h.session(req.Session)
	if err != nil {
		return nil, err
	}
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	resp := &pluginv1.CachedResponse{}
	for _, k := range slices.Sorted(maps.Keys(d.params)) {
		if k == req.Path || (strings.HasSuffix(req.Path, ".") && strings.HasPrefix(k, req.Path)) {
			p := d.params[k]
			w := int32(0)
			if p.writable {
				w = 1
			}
			resp.Params = append(resp.Params, &pluginv1.Param{Name: k, Value: p.value, Type: p.typ, Writable: w})
		}
	}
	return resp, nil
}

func (h *fakeHost) Tag(ctx context.Context, req *pluginv1.TagRequest, _ ...grpc.CallOption) (*pluginv1.TagResponse, error) {
	s, err := h.session(req.Session)
	if err != nil {
		return nil, err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	for _, t := range req.Add {
		s.d.tags[t] = true
	}
	for _, t := range req.Remove {
		delete(s.d.tags, t)
	}
	return &pluginv1.TagResponse{}, nil
}

func (h *fakeHost) kvGet(dev, key string) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.kv[dev+"\x00"+key]
	return v, ok
}

func (h *fakeHost) KVGet(ctx context.Context, req *pluginv1.KVGetRequest, _ ...grpc.CallOption) (*pluginv1.KVGetResponse, error) {
	v, ok := h.kvGet(req.DeviceId, req.Key)
	return &pluginv1.KVGetResponse{Found: ok, Value: v}, nil
}

func (h *fakeHost) KVSet(ctx context.Context, req *pluginv1.KVSetRequest, _ ...grpc.CallOption) (*pluginv1.KVSetResponse, error) {
	if req.Key == "" {
		return nil, status.Error(codes.InvalidArgument, "empty key")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kv[req.DeviceId+"\x00"+req.Key] = slices.Clone(req.Value)
	return &pluginv1.KVSetResponse{}, nil
}

func (h *fakeHost) KVDelete(ctx context.Context, req *pluginv1.KVDeleteRequest, _ ...grpc.CallOption) (*pluginv1.KVDeleteResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.kv, req.DeviceId+"\x00"+req.Key)
	return &pluginv1.KVDeleteResponse{}, nil
}

func (h *fakeHost) put(info sdk.FileInfo, data []byte) sdk.FileInfo {
	sum := sha256.Sum256(data)
	info.Size, info.SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
	info.ID = info.SHA256[:16]
	if info.Created.IsZero() {
		info.Created = time.Now().UTC()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files[info.Name] = File{FileInfo: info, Data: slices.Clone(data)}
	return info
}

// file finds a file by id or name.
func (h *fakeHost) file(name string) (File, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.files[name]; ok {
		return f, true
	}
	for _, f := range h.files {
		if f.ID == name {
			return f, true
		}
	}
	return File{}, false
}

func (h *fakeHost) fileAt(u string) (File, bool) {
	name, ok := strings.CutPrefix(u, FileBaseURL)
	if !ok {
		return File{}, false
	}
	name, _, _ = strings.Cut(name, "?")
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	return h.file(name)
}

func (h *fakeHost) list() []File {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]File, 0, len(h.files))
	for _, k := range slices.Sorted(maps.Keys(h.files)) {
		out = append(out, h.files[k])
	}
	return out
}

func infoProto(f sdk.FileInfo) *pluginv1.FileInfo {
	return &pluginv1.FileInfo{Id: f.ID, Name: f.Name, FileType: f.FileType, ContentType: f.ContentType, Size: f.Size, Sha256: f.SHA256,
		DeviceId: f.DeviceID, Version: f.Version, ProductClass: f.ProductClass, Oui: f.OUI, Metadata: f.Metadata, CreatedUnixNano: f.Created.UnixNano()}
}

func (h *fakeHost) FilePut(ctx context.Context, req *pluginv1.FilePutRequest, _ ...grpc.CallOption) (*pluginv1.FilePutResponse, error) {
	if req.Info == nil || req.Info.Name == "" || strings.ContainsAny(req.Info.Name, `/\`) || req.Info.FileType == "" {
		return nil, status.Error(codes.InvalidArgument, "a file needs a name without path separators and a file type")
	}
	i := req.Info
	info := h.put(sdk.FileInfo{Name: i.Name, FileType: i.FileType, ContentType: i.ContentType, DeviceID: i.DeviceId,
		Version: i.Version, ProductClass: i.ProductClass, OUI: i.Oui, Metadata: i.Metadata}, req.Data)
	return &pluginv1.FilePutResponse{Info: infoProto(info)}, nil
}

func (h *fakeHost) FileList(ctx context.Context, req *pluginv1.FileListRequest, _ ...grpc.CallOption) (*pluginv1.FileListResponse, error) {
	resp := &pluginv1.FileListResponse{}
	for _, f := range h.list() {
		if strings.HasPrefix(f.Name, req.NamePrefix) && (req.FileType == "" || f.FileType == req.FileType) && (req.DeviceId == "" || f.DeviceID == req.DeviceId) &&
			(req.Version == "" || f.Version == req.Version) && (req.ProductClass == "" || f.ProductClass == req.ProductClass) {
			resp.Files = append(resp.Files, infoProto(f.FileInfo))
		}
	}
	return resp, nil
}

func (h *fakeHost) FileURL(ctx context.Context, req *pluginv1.FileURLRequest, _ ...grpc.CallOption) (*pluginv1.FileURLResponse, error) {
	f, ok := h.file(req.Name)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no file %q", req.Name)
	}
	return &pluginv1.FileURLResponse{Url: FileBaseURL + url.PathEscape(f.Name) + "?ttl=" + time.Duration(req.TtlSeconds*int64(time.Second)).String()}, nil
}

func (h *fakeHost) UploadURL(ctx context.Context, req *pluginv1.UploadURLRequest, _ ...grpc.CallOption) (*pluginv1.UploadURLResponse, error) {
	return &pluginv1.UploadURLResponse{Url: FileBaseURL + "upload/" + url.PathEscape(req.DeviceId) + "/" + url.PathEscape(req.FileType)}, nil
}

var _ pluginv1.HostClient = (*fakeHost)(nil)
