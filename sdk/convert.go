package sdk

import (
	"time"

	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
)

// Conversions between the wire messages and the SDK's plain types. Times
// travel as Unix nanoseconds, 0 for the zero time.

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func valuesToProto(vs []ParameterValue) []*pluginv1.ParameterValue {
	out := make([]*pluginv1.ParameterValue, len(vs))
	for i, v := range vs {
		out[i] = &pluginv1.ParameterValue{Name: v.Name, Value: v.Value, Type: v.Type}
	}
	return out
}

func valuesFromProto(vs []*pluginv1.ParameterValue) []ParameterValue {
	out := make([]ParameterValue, len(vs))
	for i, v := range vs {
		out[i] = ParameterValue{Name: v.Name, Value: v.Value, Type: v.Type}
	}
	return out
}

func deviceFromProto(d *pluginv1.Device) Device {
	if d == nil {
		return Device{}
	}
	return Device{ID: d.Id, Manufacturer: d.Manufacturer, OUI: d.Oui, ProductClass: d.ProductClass,
		SerialNumber: d.SerialNumber, New: d.New, Root: d.Root, CWMPVersion: d.CwmpVersion}
}

func faultFromProto(f *pluginv1.Fault) *Fault {
	if f == nil {
		return nil
	}
	out := &Fault{Code: f.Code, Message: f.Message}
	for _, p := range f.ParameterFaults {
		out.ParameterFaults = append(out.ParameterFaults, ParameterFault{Name: p.Name, Code: p.Code, Message: p.Message})
	}
	return out
}

func transferFromProto(r *pluginv1.TransferResult) TransferResult {
	return TransferResult{CommandKey: r.CommandKey, Status: int(r.Status),
		StartTime: fromUnixNano(r.StartUnixNano), CompleteTime: fromUnixNano(r.CompleteUnixNano)}
}

func paramFromProto(p *pluginv1.Param) Param {
	out := Param{Name: p.Name, Value: p.Value, Type: p.Type, Object: p.Object,
		ReadAt: fromUnixNano(p.ReadUnixNano), SetAt: fromUnixNano(p.SetUnixNano)}
	if p.Writable >= 0 {
		w := p.Writable == 1
		out.Writable = &w
	}
	return out
}

func fileInfoToProto(f FileInfo) *pluginv1.FileInfo {
	return &pluginv1.FileInfo{Id: f.ID, Name: f.Name, FileType: f.FileType, ContentType: f.ContentType, Size: f.Size,
		Sha256: f.SHA256, DeviceId: f.DeviceID, Version: f.Version, ProductClass: f.ProductClass, Oui: f.OUI,
		Metadata: f.Metadata, CreatedUnixNano: unixNano(f.Created)}
}

func fileInfoFromProto(f *pluginv1.FileInfo) FileInfo {
	if f == nil {
		return FileInfo{}
	}
	return FileInfo{ID: f.Id, Name: f.Name, FileType: f.FileType, ContentType: f.ContentType, Size: f.Size,
		SHA256: f.Sha256, DeviceID: f.DeviceId, Version: f.Version, ProductClass: f.ProductClass, OUI: f.Oui,
		Metadata: f.Metadata, Created: fromUnixNano(f.CreatedUnixNano)}
}

func profileToProto(p Profile) *pluginv1.Profile {
	return &pluginv1.Profile{
		Name: p.Name, Manufacturer: p.Manufacturer, Oui: p.OUI, ProductClass: p.ProductClass,
		NumericBooleans: p.NumericBooleans, NumericNextLevel: p.NumericNextLevel, DatetimeMillis: p.DateTimeMillis,
		EmptyBodyTermination: p.EmptyBodyTermination, ExchangeTimeoutMs: p.ExchangeTimeout.Milliseconds(),
		GpvBatchSize: int32(p.GPVBatchSize), TransferEndsSession: p.TransferEndsSession, MaxCwmpVersion: p.MaxCWMPVersion,
	}
}

func cpeRequestFromProto(r *pluginv1.HandleCPERequestRequest) CPERequest {
	switch x := r.Request.(type) {
	case *pluginv1.HandleCPERequestRequest_TransferComplete:
		t := x.TransferComplete
		return &TransferComplete{CommandKey: t.CommandKey, Fault: faultFromProto(t.Fault),
			StartTime: fromUnixNano(t.StartUnixNano), CompleteTime: fromUnixNano(t.CompleteUnixNano)}
	case *pluginv1.HandleCPERequestRequest_AutonomousTransferComplete:
		t := x.AutonomousTransferComplete
		return &AutonomousTransferComplete{AnnounceURL: t.AnnounceUrl, TransferURL: t.TransferUrl, IsDownload: t.IsDownload,
			FileType: t.FileType, FileSize: t.FileSize, TargetFileName: t.TargetFileName, Fault: faultFromProto(t.Fault),
			StartTime: fromUnixNano(t.StartUnixNano), CompleteTime: fromUnixNano(t.CompleteUnixNano)}
	case *pluginv1.HandleCPERequestRequest_RequestDownload:
		return &RequestDownload{FileType: x.RequestDownload.FileType, Args: x.RequestDownload.Args}
	}
	return nil
}
