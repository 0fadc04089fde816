package soap

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/datamodel"
)

// The writer is the strict half of the codec: whatever it produces validates
// against the Broadband Forum schema of the namespace it is written in,
// provided the values it is given are in range (a fault code of 0 in a Fault,
// an OUI that is not six hex digits or a FileType that breaks the 1.0
// pattern cannot be repaired by the writer). It is a plain append writer
// because it runs once per RPC on every session: no encoding/xml, no
// reflection, no allocation beyond growing dst.

// ContentType is the Content-Type of every message the ACS sends.
const ContentType = `text/xml; charset="utf-8"`

// Options are per-device knobs for what the writer emits. The zero value is
// what the schemas and most devices expect.
type Options struct {
	// NumericBooleans writes booleans as 1/0 instead of true/false (TP-Link
	// and others). It applies to boolean parameter Values and to every
	// boolean field (HoldRequests, NextLevel, Writable, NotificationChange,
	// AccessListChange, IsDownload, Resolved).
	NumericBooleans bool
	// NumericNextLevel writes GetParameterNames NextLevel as 1/0 even when
	// NumericBooleans is off: some CPEs reject NextLevel false and nothing
	// else.
	NumericNextLevel bool
	// DateTimeMillis writes the dateTime fields the writer formats itself
	// (CurrentTime, StartTime, …) with .000 milliseconds. Off by default
	// because many CPEs reject fractional seconds. Parameter Values of type
	// dateTime are written as given.
	DateTimeMillis bool
}

// Encode appends the envelope to dst and returns it. It never fails: every
// cwmp body type is supported, a nil Body gives an empty soap-env:Body, and
// characters XML cannot carry are dropped from text.
//
// Prefixes are fixed (soap-env, soap-enc, xsd, xsi, cwmp); cwmp is bound to
// env.Namespace, or cwmp.NS10 when that is empty, so a reply echoes whatever
// namespace the device used, even one from a future version.
func Encode(dst []byte, env *cwmp.Envelope, o Options) []byte {
	if env == nil {
		env = &cwmp.Envelope{}
	}
	if n := encSizeHint(env); cap(dst)-len(dst) < n {
		// One allocation of about the right size instead of a dozen
		// doublings when the caller has no buffer to reuse.
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	e := encoder{b: dst, o: o}
	ns := env.Namespace
	if ns == "" {
		ns = cwmp.NS10
	}
	e.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"` +
		` xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"` +
		` xmlns:xsd="http://www.w3.org/2001/XMLSchema"` +
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"` +
		` xmlns:cwmp="`)
	start := len(e.b)
	e.b = encAppendEscaped(e.b, ns, &encAttrPlain)
	if len(e.b) == start {
		// Nothing XML can carry was left, and xmlns:cwmp="" is illegal.
		e.raw(cwmp.NS10)
	}
	e.raw(`">`)
	e.header(&env.Header)
	e.raw("<soap-env:Body>")
	if env.Body != nil {
		e.body(env.Body)
	}
	e.raw("</soap-env:Body></soap-env:Envelope>")
	return e.b
}

// encSizeHint estimates the encoded size of env: the fixed envelope plus,
// for the bodies that can be large, each parameter's text and markup.
func encSizeHint(env *cwmp.Envelope) int {
	const envelope, perValue = 640, 110
	var list []cwmp.ParameterValue
	switch m := env.Body.(type) {
	case *cwmp.SetParameterValues:
		if m != nil {
			list = m.ParameterList
		}
	case *cwmp.GetParameterValuesResponse:
		if m != nil {
			list = m.ParameterList
		}
	case *cwmp.Inform:
		if m != nil {
			list = m.ParameterList
		}
	case *cwmp.GetParameterValues:
		if m != nil {
			n := envelope
			for _, s := range m.ParameterNames {
				n += len(s) + 17
			}
			return n
		}
	case *cwmp.GetParameterNamesResponse:
		if m != nil {
			n := envelope
			for _, p := range m.ParameterList {
				n += len(p.Name) + 90
			}
			return n
		}
	}
	n := envelope
	for i := range list {
		n += len(list[i].Name) + len(list[i].Value.Text) + perValue
	}
	return n
}

type encoder struct {
	b []byte
	o Options
}

func (e *encoder) raw(s string) { e.b = append(e.b, s...) }

func (e *encoder) text(s string) { e.b = encAppendEscaped(e.b, s, &encTextPlain) }

func (e *encoder) open(name string) {
	e.b = append(e.b, '<')
	e.b = append(e.b, name...)
	e.b = append(e.b, '>')
}

func (e *encoder) close(name string) {
	e.b = append(e.b, "</"...)
	e.b = append(e.b, name...)
	e.b = append(e.b, '>')
}

// method opens the body element. Only this element carries the cwmp prefix:
// the schemas declare every child unqualified (elementFormDefault).
func (e *encoder) method(name string) {
	e.b = append(e.b, "<cwmp:"...)
	e.b = append(e.b, name...)
	e.b = append(e.b, '>')
}

func (e *encoder) endMethod(name string) {
	e.b = append(e.b, "</cwmp:"...)
	e.b = append(e.b, name...)
	e.b = append(e.b, '>')
}

func (e *encoder) empty(name string) {
	e.method(name)
	e.endMethod(name)
}

func (e *encoder) str(name, v string) {
	e.open(name)
	e.text(v)
	e.close(name)
}

func (e *encoder) uint(name string, v uint64) {
	e.open(name)
	e.b = strconv.AppendUint(e.b, v, 10)
	e.close(name)
}

func (e *encoder) int(name string, v int64) {
	e.open(name)
	e.b = strconv.AppendInt(e.b, v, 10)
	e.close(name)
}

func (e *encoder) boolLit(v, numeric bool) {
	switch {
	case numeric && v:
		e.b = append(e.b, '1')
	case numeric:
		e.b = append(e.b, '0')
	case v:
		e.b = append(e.b, "true"...)
	default:
		e.b = append(e.b, "false"...)
	}
}

func (e *encoder) boolean(name string, v bool) {
	e.open(name)
	e.boolLit(v, e.o.NumericBooleans)
	e.close(name)
}

// time writes t like cwmp.FormatDateTime but appends in place. The zero time
// is TR-106's Unknown Time, always without milliseconds, which is how CPEs
// recognise it.
func (e *encoder) time(name string, t time.Time) {
	e.open(name)
	switch {
	case t.IsZero():
		e.b = append(e.b, "0001-01-01T00:00:00Z"...)
	case e.o.DateTimeMillis:
		e.b = t.UTC().AppendFormat(e.b, "2006-01-02T15:04:05.000Z")
	default:
		e.b = t.UTC().AppendFormat(e.b, "2006-01-02T15:04:05Z")
	}
	e.close(name)
}

// array opens a SOAP-encoded array. Every array type in the CWMP schemas
// restricts soapenc:Array with a required arrayType, and the count is the
// true one even though readers must not trust it. No xsi:type="soap-enc:Array"
// is written: the element's declared type is a restriction of soapenc:Array,
// and naming the base type with xsi:type would make the message invalid.
func (e *encoder) array(name, itemType string, n int) {
	e.b = append(e.b, '<')
	e.b = append(e.b, name...)
	e.b = append(e.b, ` soap-enc:arrayType="`...)
	e.b = append(e.b, itemType...)
	e.b = append(e.b, '[')
	e.b = strconv.AppendUint(e.b, uint64(n), 10)
	e.b = append(e.b, `]">`...)
}

func (e *encoder) strings(name, item string, list []string) {
	e.array(name, "xsd:string", len(list))
	for _, s := range list {
		e.str(item, s)
	}
	e.close(name)
}

// header writes the cwmp header elements. NoMoreRequests is never written:
// it is in no schema and TR-069 deprecated it. The mustUnderstand values are
// the ones the schemas fix (ID, HoldRequests, UseCWMPVersion: 1;
// SessionTimeout, SupportedCWMPVersions: 0).
func (e *encoder) header(h *cwmp.Header) {
	if !h.HasID && h.HoldRequests == nil && h.SessionTimeout == nil &&
		h.SupportedCWMPVersions == "" && h.UseCWMPVersion == "" {
		return
	}
	e.raw("<soap-env:Header>")
	if h.HasID {
		e.raw(`<cwmp:ID soap-env:mustUnderstand="1">`)
		e.text(h.ID)
		e.raw("</cwmp:ID>")
	}
	if h.HoldRequests != nil {
		e.raw(`<cwmp:HoldRequests soap-env:mustUnderstand="1">`)
		e.boolLit(*h.HoldRequests, e.o.NumericBooleans)
		e.raw("</cwmp:HoldRequests>")
	}
	if h.SessionTimeout != nil {
		e.raw(`<cwmp:SessionTimeout soap-env:mustUnderstand="0">`)
		e.b = strconv.AppendUint(e.b, uint64(*h.SessionTimeout), 10)
		e.raw("</cwmp:SessionTimeout>")
	}
	if h.SupportedCWMPVersions != "" {
		e.raw(`<cwmp:SupportedCWMPVersions soap-env:mustUnderstand="0">`)
		e.text(h.SupportedCWMPVersions)
		e.raw("</cwmp:SupportedCWMPVersions>")
	}
	if h.UseCWMPVersion != "" {
		e.raw(`<cwmp:UseCWMPVersion soap-env:mustUnderstand="1">`)
		e.text(h.UseCWMPVersion)
		e.raw("</cwmp:UseCWMPVersion>")
	}
	e.raw("</soap-env:Header>")
}

// encOr returns p, or a zero value when p is nil, so that a typed nil in an
// interface writes an empty RPC rather than panicking.
func encOr[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// body writes the RPC element with its children in the schema's order
// (cwmp-1-2.xsd, which keeps the 1.0 and 1.1 orders).
func (e *encoder) body(b cwmp.Body) {
	switch m := b.(type) {
	case *cwmp.Fault:
		e.fault(encOr(m))

	// CPE → ACS requests and their responses.
	case *cwmp.Inform:
		m = encOr(m)
		e.method("Inform")
		e.raw("<DeviceId>")
		e.str("Manufacturer", m.DeviceID.Manufacturer)
		e.str("OUI", m.DeviceID.OUI)
		e.str("ProductClass", m.DeviceID.ProductClass)
		e.str("SerialNumber", m.DeviceID.SerialNumber)
		e.raw("</DeviceId>")
		e.array("Event", "cwmp:EventStruct", len(m.Events))
		for _, ev := range m.Events {
			e.raw("<EventStruct>")
			e.str("EventCode", string(ev.EventCode))
			e.str("CommandKey", ev.CommandKey)
			e.raw("</EventStruct>")
		}
		e.raw("</Event>")
		e.uint("MaxEnvelopes", uint64(m.MaxEnvelopes))
		e.time("CurrentTime", m.CurrentTime)
		e.uint("RetryCount", uint64(m.RetryCount))
		e.paramValues(m.ParameterList)
		e.endMethod("Inform")
	case *cwmp.InformResponse:
		e.method("InformResponse")
		e.uint("MaxEnvelopes", uint64(encOr(m).MaxEnvelopes))
		e.endMethod("InformResponse")
	case *cwmp.TransferComplete:
		m = encOr(m)
		e.method("TransferComplete")
		e.str("CommandKey", m.CommandKey)
		e.faultStruct("FaultStruct", m.FaultStruct.FaultCode, m.FaultStruct.FaultString)
		e.time("StartTime", m.StartTime)
		e.time("CompleteTime", m.CompleteTime)
		e.endMethod("TransferComplete")
	case *cwmp.TransferCompleteResponse:
		e.empty("TransferCompleteResponse")
	case *cwmp.AutonomousTransferComplete:
		m = encOr(m)
		e.method("AutonomousTransferComplete")
		e.str("AnnounceURL", m.AnnounceURL)
		e.str("TransferURL", m.TransferURL)
		e.boolean("IsDownload", m.IsDownload)
		e.str("FileType", m.FileType)
		e.uint("FileSize", uint64(m.FileSize))
		e.str("TargetFileName", m.TargetFileName)
		e.faultStruct("FaultStruct", m.FaultStruct.FaultCode, m.FaultStruct.FaultString)
		e.time("StartTime", m.StartTime)
		e.time("CompleteTime", m.CompleteTime)
		e.endMethod("AutonomousTransferComplete")
	case *cwmp.AutonomousTransferCompleteResponse:
		e.empty("AutonomousTransferCompleteResponse")
	case *cwmp.RequestDownload:
		m = encOr(m)
		e.method("RequestDownload")
		e.str("FileType", m.FileType)
		e.array("FileTypeArg", "cwmp:ArgStruct", len(m.FileTypeArg))
		for _, a := range m.FileTypeArg {
			e.raw("<ArgStruct>")
			e.str("Name", a.Name)
			e.str("Value", a.Value)
			e.raw("</ArgStruct>")
		}
		e.raw("</FileTypeArg>")
		e.endMethod("RequestDownload")
	case *cwmp.RequestDownloadResponse:
		e.empty("RequestDownloadResponse")
	case *cwmp.DUStateChangeComplete:
		m = encOr(m)
		e.method("DUStateChangeComplete")
		for i := range m.Results {
			e.opResult(&m.Results[i], false)
		}
		e.str("CommandKey", m.CommandKey)
		e.endMethod("DUStateChangeComplete")
	case *cwmp.DUStateChangeCompleteResponse:
		e.empty("DUStateChangeCompleteResponse")
	case *cwmp.AutonomousDUStateChangeComplete:
		m = encOr(m)
		e.method("AutonomousDUStateChangeComplete")
		for i := range m.Results {
			e.opResult(&m.Results[i], true)
		}
		e.endMethod("AutonomousDUStateChangeComplete")
	case *cwmp.AutonomousDUStateChangeCompleteResponse:
		e.empty("AutonomousDUStateChangeCompleteResponse")
	case *cwmp.Kicked:
		m = encOr(m)
		e.method("Kicked")
		e.str("Command", m.Command)
		e.str("Referer", m.Referer)
		e.str("Arg", m.Arg)
		e.str("Next", m.Next)
		e.endMethod("Kicked")
	case *cwmp.KickedResponse:
		e.method("KickedResponse")
		e.str("NextURL", encOr(m).NextURL)
		e.endMethod("KickedResponse")

	// ACS → CPE requests and their responses.
	case *cwmp.GetRPCMethods:
		e.empty("GetRPCMethods")
	case *cwmp.GetRPCMethodsResponse:
		e.method("GetRPCMethodsResponse")
		e.strings("MethodList", "string", encOr(m).MethodList)
		e.endMethod("GetRPCMethodsResponse")
	case *cwmp.GetParameterNames:
		m = encOr(m)
		e.method("GetParameterNames")
		e.str("ParameterPath", m.ParameterPath)
		e.open("NextLevel")
		e.boolLit(m.NextLevel, e.o.NumericNextLevel || e.o.NumericBooleans)
		e.close("NextLevel")
		e.endMethod("GetParameterNames")
	case *cwmp.GetParameterNamesResponse:
		m = encOr(m)
		e.method("GetParameterNamesResponse")
		e.array("ParameterList", "cwmp:ParameterInfoStruct", len(m.ParameterList))
		for _, p := range m.ParameterList {
			e.raw("<ParameterInfoStruct>")
			e.str("Name", p.Name)
			e.boolean("Writable", p.Writable)
			e.raw("</ParameterInfoStruct>")
		}
		e.raw("</ParameterList>")
		e.endMethod("GetParameterNamesResponse")
	case *cwmp.GetParameterValues:
		e.method("GetParameterValues")
		e.strings("ParameterNames", "string", encOr(m).ParameterNames)
		e.endMethod("GetParameterValues")
	case *cwmp.GetParameterValuesResponse:
		e.method("GetParameterValuesResponse")
		e.paramValues(encOr(m).ParameterList)
		e.endMethod("GetParameterValuesResponse")
	case *cwmp.SetParameterValues:
		m = encOr(m)
		e.method("SetParameterValues")
		e.paramValues(m.ParameterList)
		e.str("ParameterKey", m.ParameterKey)
		e.endMethod("SetParameterValues")
	case *cwmp.SetParameterValuesResponse:
		e.method("SetParameterValuesResponse")
		e.int("Status", int64(encOr(m).Status))
		e.endMethod("SetParameterValuesResponse")
	case *cwmp.GetParameterAttributes:
		e.method("GetParameterAttributes")
		e.strings("ParameterNames", "string", encOr(m).ParameterNames)
		e.endMethod("GetParameterAttributes")
	case *cwmp.GetParameterAttributesResponse:
		m = encOr(m)
		e.method("GetParameterAttributesResponse")
		e.array("ParameterList", "cwmp:ParameterAttributeStruct", len(m.ParameterList))
		for _, p := range m.ParameterList {
			e.raw("<ParameterAttributeStruct>")
			e.str("Name", p.Name)
			e.int("Notification", int64(p.Notification))
			e.strings("AccessList", "string", p.AccessList)
			e.raw("</ParameterAttributeStruct>")
		}
		e.raw("</ParameterList>")
		e.endMethod("GetParameterAttributesResponse")
	case *cwmp.SetParameterAttributes:
		m = encOr(m)
		e.method("SetParameterAttributes")
		e.array("ParameterList", "cwmp:SetParameterAttributesStruct", len(m.ParameterList))
		for _, p := range m.ParameterList {
			e.raw("<SetParameterAttributesStruct>")
			e.str("Name", p.Name)
			e.boolean("NotificationChange", p.NotificationChange)
			e.int("Notification", int64(p.Notification))
			e.boolean("AccessListChange", p.AccessListChange)
			e.strings("AccessList", "string", p.AccessList)
			e.raw("</SetParameterAttributesStruct>")
		}
		e.raw("</ParameterList>")
		e.endMethod("SetParameterAttributes")
	case *cwmp.SetParameterAttributesResponse:
		e.empty("SetParameterAttributesResponse")
	case *cwmp.AddObject:
		m = encOr(m)
		e.method("AddObject")
		e.str("ObjectName", m.ObjectName)
		e.str("ParameterKey", m.ParameterKey)
		e.endMethod("AddObject")
	case *cwmp.AddObjectResponse:
		m = encOr(m)
		e.method("AddObjectResponse")
		e.uint("InstanceNumber", uint64(m.InstanceNumber))
		e.int("Status", int64(m.Status))
		e.endMethod("AddObjectResponse")
	case *cwmp.DeleteObject:
		m = encOr(m)
		e.method("DeleteObject")
		e.str("ObjectName", m.ObjectName)
		e.str("ParameterKey", m.ParameterKey)
		e.endMethod("DeleteObject")
	case *cwmp.DeleteObjectResponse:
		e.method("DeleteObjectResponse")
		e.int("Status", int64(encOr(m).Status))
		e.endMethod("DeleteObjectResponse")
	case *cwmp.Reboot:
		e.method("Reboot")
		e.str("CommandKey", encOr(m).CommandKey)
		e.endMethod("Reboot")
	case *cwmp.RebootResponse:
		e.empty("RebootResponse")
	case *cwmp.FactoryReset:
		e.empty("FactoryReset")
	case *cwmp.FactoryResetResponse:
		e.empty("FactoryResetResponse")
	case *cwmp.Download:
		m = encOr(m)
		e.method("Download")
		e.str("CommandKey", m.CommandKey)
		e.str("FileType", m.FileType)
		e.str("URL", m.URL)
		e.str("Username", m.Username)
		e.str("Password", m.Password)
		e.uint("FileSize", uint64(m.FileSize))
		e.str("TargetFileName", m.TargetFileName)
		e.uint("DelaySeconds", uint64(m.DelaySeconds))
		e.str("SuccessURL", m.SuccessURL)
		e.str("FailureURL", m.FailureURL)
		e.endMethod("Download")
	case *cwmp.DownloadResponse:
		m = encOr(m)
		e.transferResponse("DownloadResponse", m.Status, m.StartTime, m.CompleteTime)
	case *cwmp.Upload:
		m = encOr(m)
		e.method("Upload")
		e.str("CommandKey", m.CommandKey)
		e.str("FileType", m.FileType)
		e.str("URL", m.URL)
		e.str("Username", m.Username)
		e.str("Password", m.Password)
		e.uint("DelaySeconds", uint64(m.DelaySeconds))
		e.endMethod("Upload")
	case *cwmp.UploadResponse:
		m = encOr(m)
		e.transferResponse("UploadResponse", m.Status, m.StartTime, m.CompleteTime)
	case *cwmp.ScheduleInform:
		m = encOr(m)
		e.method("ScheduleInform")
		e.uint("DelaySeconds", uint64(m.DelaySeconds))
		e.str("CommandKey", m.CommandKey)
		e.endMethod("ScheduleInform")
	case *cwmp.ScheduleInformResponse:
		e.empty("ScheduleInformResponse")
	case *cwmp.ScheduleDownload:
		m = encOr(m)
		e.method("ScheduleDownload")
		e.str("CommandKey", m.CommandKey)
		e.str("FileType", m.FileType)
		e.str("URL", m.URL)
		e.str("Username", m.Username)
		e.str("Password", m.Password)
		e.uint("FileSize", uint64(m.FileSize))
		e.str("TargetFileName", m.TargetFileName)
		e.array("TimeWindowList", "cwmp:TimeWindowStruct", len(m.TimeWindowList))
		for _, w := range m.TimeWindowList {
			e.raw("<TimeWindowStruct>")
			e.uint("WindowStart", uint64(w.WindowStart))
			e.uint("WindowEnd", uint64(w.WindowEnd))
			e.str("WindowMode", w.WindowMode)
			e.str("UserMessage", w.UserMessage)
			e.int("MaxRetries", int64(w.MaxRetries))
			e.raw("</TimeWindowStruct>")
		}
		e.raw("</TimeWindowList>")
		e.endMethod("ScheduleDownload")
	case *cwmp.ScheduleDownloadResponse:
		e.empty("ScheduleDownloadResponse")
	case *cwmp.CancelTransfer:
		e.method("CancelTransfer")
		e.str("CommandKey", encOr(m).CommandKey)
		e.endMethod("CancelTransfer")
	case *cwmp.CancelTransferResponse:
		e.empty("CancelTransferResponse")
	case *cwmp.GetQueuedTransfers:
		e.empty("GetQueuedTransfers")
	case *cwmp.GetQueuedTransfersResponse:
		m = encOr(m)
		e.method("GetQueuedTransfersResponse")
		e.array("TransferList", "cwmp:QueuedTransferStruct", len(m.TransferList))
		for _, t := range m.TransferList {
			e.raw("<QueuedTransferStruct>")
			e.str("CommandKey", t.CommandKey)
			e.int("State", int64(t.State))
			e.raw("</QueuedTransferStruct>")
		}
		e.raw("</TransferList>")
		e.endMethod("GetQueuedTransfersResponse")
	case *cwmp.GetAllQueuedTransfers:
		e.empty("GetAllQueuedTransfers")
	case *cwmp.GetAllQueuedTransfersResponse:
		m = encOr(m)
		e.method("GetAllQueuedTransfersResponse")
		e.array("TransferList", "cwmp:AllQueuedTransferStruct", len(m.TransferList))
		for _, t := range m.TransferList {
			e.raw("<AllQueuedTransferStruct>")
			e.str("CommandKey", t.CommandKey)
			e.int("State", int64(t.State))
			e.boolean("IsDownload", t.IsDownload)
			e.str("FileType", t.FileType)
			e.uint("FileSize", uint64(t.FileSize))
			e.str("TargetFileName", t.TargetFileName)
			e.raw("</AllQueuedTransferStruct>")
		}
		e.raw("</TransferList>")
		e.endMethod("GetAllQueuedTransfersResponse")
	case *cwmp.ChangeDUState:
		m = encOr(m)
		e.method("ChangeDUState")
		for i := range m.Operations {
			e.duOperation(&m.Operations[i])
		}
		e.str("CommandKey", m.CommandKey)
		e.endMethod("ChangeDUState")
	case *cwmp.ChangeDUStateResponse:
		e.empty("ChangeDUStateResponse")
	case *cwmp.GetOptions:
		e.method("GetOptions")
		e.str("OptionName", encOr(m).OptionName)
		e.endMethod("GetOptions")
	case *cwmp.GetOptionsResponse:
		m = encOr(m)
		e.method("GetOptionsResponse")
		e.array("OptionList", "cwmp:OptionStruct", len(m.OptionList))
		for i := range m.OptionList {
			op := &m.OptionList[i]
			e.raw("<OptionStruct>")
			e.str("OptionName", op.OptionName)
			e.uint("VoucherSN", uint64(op.VoucherSN))
			e.uint("State", uint64(op.State))
			e.int("Mode", int64(op.Mode))
			e.time("StartDate", op.StartDate)
			if !op.ExpirationDate.IsZero() {
				e.time("ExpirationDate", op.ExpirationDate)
			}
			// IsTransferable is an xs:int restricted to 0 and 1 in every
			// schema version, not an xs:boolean, so the boolean knob does
			// not apply and "true" would be invalid.
			e.open("IsTransferable")
			e.boolLit(op.IsTransferable, true)
			e.close("IsTransferable")
			e.raw("</OptionStruct>")
		}
		e.raw("</OptionList>")
		e.endMethod("GetOptionsResponse")
	case *cwmp.SetVouchers:
		m = encOr(m)
		e.method("SetVouchers")
		// The items are declared soapenc:base64, so the arrayType names that
		// type; "xsd:base64" would name a type XML Schema does not have.
		e.array("VoucherList", "soap-enc:base64", len(m.VoucherList))
		for _, v := range m.VoucherList {
			e.str("base64", v)
		}
		e.raw("</VoucherList>")
		e.endMethod("SetVouchers")
	case *cwmp.SetVouchersResponse:
		e.empty("SetVouchersResponse")

	case *cwmp.Unknown:
		// Only the name of an unknown method is kept; a name that is not an
		// XML name cannot be written at all, and the Body stays empty.
		if m != nil && encIsName(m.Name) {
			e.empty(m.Name)
		}
	default:
		// A Body implementation from outside core/cwmp: its method name is
		// all the writer can know about it.
		if name := b.Method(); encIsName(name) {
			e.empty(name)
		}
	}
}

func (e *encoder) transferResponse(name string, status int, start, complete time.Time) {
	e.method(name)
	e.int("Status", int64(status))
	e.time("StartTime", start)
	e.time("CompleteTime", complete)
	e.endMethod(name)
}

func (e *encoder) faultStruct(name string, code cwmp.FaultCode, msg string) {
	e.open(name)
	e.uint("FaultCode", uint64(code))
	e.str("FaultString", msg)
	e.close(name)
}

// opResult writes an OpResultStruct, or an AutonOpResultStruct (which adds
// OperationPerformed and is the only one of the two that allows it).
func (e *encoder) opResult(r *cwmp.OpResult, autonomous bool) {
	e.raw("<Results>")
	e.str("UUID", r.UUID)
	e.str("DeploymentUnitRef", r.DeploymentUnitRef)
	e.str("Version", r.Version)
	e.str("CurrentState", r.CurrentState)
	e.boolean("Resolved", r.Resolved)
	e.str("ExecutionUnitRefList", r.ExecutionUnitRefList)
	e.time("StartTime", r.StartTime)
	e.time("CompleteTime", r.CompleteTime)
	e.faultStruct("Fault", r.Fault.FaultCode, r.Fault.FaultString)
	if autonomous {
		e.str("OperationPerformed", r.OperationPerformed)
	}
	e.raw("</Results>")
}

// duOperation writes one ChangeDUState operation. Operations is declared
// with the abstract OperationStruct, so xsi:type must name the concrete
// struct. Optional elements are left out when empty: an empty UUID or URL
// would break their patterns, and for Update an absent UUID and URL mean
// "every deployment unit", which an empty one does not.
func (e *encoder) duOperation(op *cwmp.DUOperation) {
	kind := op.Kind
	if i := strings.LastIndexByte(kind, ':'); i >= 0 {
		kind = kind[i+1:]
	}
	if !encIsName(kind) {
		// The abstract type cannot be sent; a DUOperation without a Kind
		// is read as the most common operation rather than dropped.
		kind = cwmp.DUInstall
	}
	e.raw(`<Operations xsi:type="cwmp:`)
	e.raw(kind)
	e.raw(`">`)
	opt := func(name, v string) {
		if v != "" {
			e.str(name, v)
		}
	}
	switch kind {
	case cwmp.DUInstall:
		e.str("URL", op.URL)
		opt("UUID", op.UUID)
		opt("Username", op.Username)
		opt("Password", op.Password)
		opt("ExecutionEnvRef", op.ExecutionEnvRef)
	case cwmp.DUUpdate:
		opt("UUID", op.UUID)
		opt("Version", op.Version)
		opt("URL", op.URL)
		opt("Username", op.Username)
		opt("Password", op.Password)
	case cwmp.DUUninstall:
		e.str("UUID", op.UUID)
		opt("Version", op.Version)
		opt("ExecutionEnvRef", op.ExecutionEnvRef)
	default:
		// A vendor operation type: send what is set and let the CPE judge.
		opt("URL", op.URL)
		opt("UUID", op.UUID)
		opt("Version", op.Version)
		opt("Username", op.Username)
		opt("Password", op.Password)
		opt("ExecutionEnvRef", op.ExecutionEnvRef)
	}
	e.raw("</Operations>")
}

// fault writes a SOAP 1.1 Fault with the cwmp:Fault detail. faultcode is an
// xs:QName, so only Client or Server are written: a device's own spelling
// ("soap:Client", with a prefix this envelope does not declare) would not
// be a valid QName here.
func (e *encoder) fault(f *cwmp.Fault) {
	code := f.SOAPCode
	if i := strings.LastIndexByte(code, ':'); i >= 0 {
		code = code[i+1:]
	}
	if code != "Client" && code != "Server" {
		code = f.Code.SOAPFaultCode()
	}
	e.raw("<soap-env:Fault><faultcode>")
	e.raw(code)
	e.raw("</faultcode><faultstring>")
	if f.SOAPString != "" {
		e.text(f.SOAPString)
	} else {
		e.raw("CWMP fault")
	}
	e.raw("</faultstring><detail><cwmp:Fault>")
	e.uint("FaultCode", uint64(f.Code))
	e.str("FaultString", f.String)
	for _, p := range f.SetParameterValuesFaults {
		e.raw("<SetParameterValuesFault>")
		e.str("ParameterName", p.ParameterName)
		e.uint("FaultCode", uint64(p.FaultCode))
		e.str("FaultString", p.FaultString)
		e.raw("</SetParameterValuesFault>")
	}
	e.raw("</cwmp:Fault></detail></soap-env:Fault>")
}

func (e *encoder) paramValues(list []cwmp.ParameterValue) {
	e.array("ParameterList", "cwmp:ParameterValueStruct", len(list))
	for i := range list {
		p := &list[i]
		e.raw("<ParameterValueStruct><Name>")
		e.text(p.Name)
		e.raw("</Name>")
		e.value(p.Name, &p.Value)
		e.raw("</ParameterValueStruct>")
	}
	e.raw("</ParameterList>")
}

// value writes a Value with its xsi:type. Devices from Broadcom-based stacks
// reject untyped values, so a type is always given (see encValueType).
func (e *encoder) value(name string, v *cwmp.Value) {
	t := encValueType(name, v)
	e.raw(`<Value xsi:type="`)
	e.raw(encXSIType(t))
	e.raw(`">`)
	if t == cwmp.TypeBoolean {
		if b, err := cwmp.ParseBool(v.Text); err == nil {
			e.boolLit(b, e.o.NumericBooleans)
		} else {
			// Not a boolean at all: the CPE should see what the caller
			// asked for and fault it, not a value the writer made up.
			e.text(v.Text)
		}
	} else {
		// dateTime and numeric text is kept as given: it is what the
		// caller (or the device, when the simulator echoes it) chose.
		e.text(v.Text)
	}
	e.raw("</Value>")
}

// encTypeDecimal is TR-106's decimal, which TR-181 uses for a few diagnostics
// results; cwmp.Type has no constant for it but xsd:decimal is a real type.
const encTypeDecimal cwmp.Type = "decimal"

// encValueType picks the type a value is written with: the sender's type
// when it is a TR-106 base type in any spelling, else the data model's type
// for the parameter, else the reader's guess for a value that came without
// xsi:type, else string. A value that came untyped consults the data model
// first, since the reader's string is only a guess.
func encValueType(name string, v *cwmp.Value) cwmp.Type {
	if !v.Untyped {
		if v.Type.Known() || v.Type == encTypeDecimal {
			return v.Type
		}
		if v.Type != "" {
			s := string(v.Type)
			if i := strings.LastIndexByte(s, ':'); i >= 0 {
				s = s[i+1:]
			}
			if t := cwmp.ParseType(s); t.Known() || t == encTypeDecimal {
				return t
			}
		}
	}
	if t, ok := datamodel.TypeOf(name); ok {
		if ct := cwmp.Type(t); ct.Known() || ct == encTypeDecimal {
			return ct
		}
	}
	if v.Type.Known() {
		return v.Type
	}
	return cwmp.TypeString
}

// encXSIType maps a base type to the QName written in xsi:type. base64 is
// written soap-enc:base64: "xsd:base64", which TR-069 examples and many
// ACSs use, names no type in XML Schema and fails validation
// ("does not resolve to a type definition"), while soap-enc:base64 is the
// SOAP encoding's simple type derived from xsd:base64Binary and validates.
// It also keeps the local name "base64" that CPE parsers match on after
// dropping the prefix, which xsd:base64Binary would not.
func encXSIType(t cwmp.Type) string {
	switch t {
	case cwmp.TypeInt:
		return "xsd:int"
	case cwmp.TypeUnsignedInt:
		return "xsd:unsignedInt"
	case cwmp.TypeLong:
		return "xsd:long"
	case cwmp.TypeUnsignedLong:
		return "xsd:unsignedLong"
	case cwmp.TypeBoolean:
		return "xsd:boolean"
	case cwmp.TypeDateTime:
		return "xsd:dateTime"
	case cwmp.TypeBase64:
		return "soap-enc:base64"
	case cwmp.TypeHexBinary:
		return "xsd:hexBinary"
	case encTypeDecimal:
		return "xsd:decimal"
	}
	return "xsd:string"
}

// encIsName reports whether s can be written as an element's local name.
// Only ASCII names are accepted: CWMP method names, vendor ones included
// ("X_0012AB_Foo"), are ASCII, and anything else is more likely garbage.
func encIsName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	// Names starting with "xml" in any case are reserved.
	return len(s) < 3 || !strings.EqualFold(s[:3], "xml")
}

// encTextPlain and encAttrPlain mark the bytes that are copied as they are
// in character data and in double-quoted attribute values. Everything else
// is escaped, dropped, or (bytes from 0x80) checked as UTF-8.
var encTextPlain, encAttrPlain = func() (text, attr [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		text[c] = c != '&' && c != '<' && c != '>'
		attr[c] = text[c] && c != '"'
	}
	// Tab and LF survive in text; in an attribute value the reader would
	// normalise them to spaces, so there they become references.
	text['\t'], text['\n'] = true, true
	return text, attr
}()

// encAppendEscaped appends s as XML character data (or attribute content with
// the attribute table). Characters XML 1.0 cannot carry at all (C0 controls
// other than tab, LF and CR, U+FFFE, U+FFFF and bytes that are not UTF-8)
// are dropped: not even a character reference may name them. CR is written
// as &#13; because a literal CR would come out of any XML parser as LF.
func encAppendEscaped(dst []byte, s string, plain *[256]bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && n == 1) || r == 0xFFFE || r == 0xFFFF {
				dst = append(dst, s[last:i]...)
				last = i + n
			}
			i += n
			continue
		}
		dst = append(dst, s[last:i]...)
		switch c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\r':
			dst = append(dst, "&#13;"...)
		case '\n':
			dst = append(dst, "&#10;"...)
		case '\t':
			dst = append(dst, "&#9;"...)
		}
		i++
		last = i
	}
	return append(dst, s[last:]...)
}
