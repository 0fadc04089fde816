package soap

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/provisor/provisor/core/cwmp"
)

// Decode reads one SOAP envelope. It is namespace-aware by local name only
// (any prefix, any namespace for header attributes), accepts children in any
// order, never trusts array sizes, and reads booleans, numbers and dates
// leniently. It rejects what is not well-formed XML, document type
// declarations, invalid UTF-8 and anything beyond lim, always with an *Error
// wrapping one of the package's sentinel errors.
//
// A body that is empty or only white space is the CPE's empty POST: Decode
// returns (nil, nil) for it.
func Decode(data []byte, lim Limits) (*cwmp.Envelope, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, &Error{Err: ErrTooLarge, Offset: -1}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if IsEmpty(data) {
		return nil, nil
	}
	if !utf8.Valid(data) && latin1Declared(data) {
		data = latin1ToUTF8(data)
	} else if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, &Error{Err: ErrEncoding, Offset: off, Detail: "invalid UTF-8"}
	}
	d := decoder{scanner: scanner{d: data, lim: lim}}
	env := d.envelope()
	if d.err != nil {
		return nil, d.err
	}
	return env, nil
}

// IsEmpty reports whether a body is the empty POST: no bytes, or only white
// space (some CPEs send a newline).
func IsEmpty(data []byte) bool {
	for _, c := range data {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

type decoder struct {
	scanner
}

func (d *decoder) envelope() *cwmp.Envelope {
	// Prolog: skip to the root element.
	if !d.child() {
		if d.err == nil {
			d.fail(ErrNotEnvelope, "no root element")
		}
		return nil
	}
	if string(d.local) != "Envelope" {
		// Read on, so that a broken fragment is reported as broken rather
		// than merely as not being an envelope.
		root := string(d.qname)
		d.skip()
		d.fail(ErrNotEnvelope, "root element is <"+root+">")
		return nil
	}
	env := &cwmp.Envelope{}
	var firstCWMP string
	sawBody := false
	for d.child() {
		switch string(d.local) {
		case "Header":
			d.header(&env.Header)
		case "Body":
			sawBody = true
			for d.child() {
				if env.Body != nil {
					// One RPC per envelope; later siblings are ignored.
					d.skip()
					continue
				}
				env.Namespace = d.lookupNS(string(d.prefix))
				env.Body = d.body()
			}
		default:
			d.skip()
		}
	}
	if d.err != nil {
		return nil
	}
	if !sawBody {
		d.fail(ErrNotEnvelope, "envelope has no Body")
		return nil
	}
	for _, ns := range d.ns {
		if cwmp.IsNamespace(ns.uri) {
			firstCWMP = ns.uri
			break
		}
	}
	if !cwmp.IsNamespace(env.Namespace) {
		env.Namespace = firstCWMP
	}
	if u, ok := env.Body.(*cwmp.Unknown); ok {
		u.Namespace = env.Namespace
	}
	return env
}

func (d *decoder) header(h *cwmp.Header) {
	for d.child() {
		switch string(d.local) {
		case "ID":
			mu, _ := d.attr("mustUnderstand")
			h.IDMustUnderstand = strings.TrimSpace(mu) == "1" || strings.EqualFold(strings.TrimSpace(mu), "true")
			h.ID = d.str()
			h.HasID = true
		case "HoldRequests":
			b := d.boolean()
			h.HoldRequests = &b
		case "NoMoreRequests":
			b := d.boolean()
			h.NoMoreRequests = &b
		case "SessionTimeout":
			v := d.u32()
			h.SessionTimeout = &v
		case "SupportedCWMPVersions":
			h.SupportedCWMPVersions = d.str()
		case "UseCWMPVersion":
			h.UseCWMPVersion = d.str()
		default:
			d.skip()
		}
	}
}

// ---- scalar readers; all lenient, none fails the message ----

// str reads trimmed text: names, keys, identifiers and numbers arrive
// pretty-printed with surrounding white space.
func (d *decoder) str() string { return trimSpace(d.text()) }

func trimSpace(s string) string {
	if len(s) == 0 || (!isSpace(s[0]) && !isSpace(s[len(s)-1])) {
		return s
	}
	return strings.TrimSpace(s)
}

func (d *decoder) u32() uint32 {
	t := d.str()
	n, err := strconv.ParseUint(strings.TrimPrefix(t, "+"), 10, 32)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return ^uint32(0)
		}
		return 0
	}
	return uint32(n)
}

func (d *decoder) i32() int32 {
	n, err := strconv.ParseInt(d.str(), 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

func (d *decoder) int() int { return int(d.i32()) }

func (d *decoder) boolean() bool {
	b, _ := cwmp.ParseBool(d.text())
	return b
}

func (d *decoder) time() time.Time {
	t, _ := cwmp.ParseDateTime(d.text())
	return t
}

// strings reads an array of scalars, whatever its members are called
// ("string", "xsd:string", "ns5:string") and whatever its arrayType says.
func (d *decoder) strings() []string {
	var out []string
	for d.child() {
		out = append(out, d.str())
	}
	return out
}

func (d *decoder) value() cwmp.Value {
	var v cwmp.Value
	if t, ok := d.attrRaw("type"); ok {
		v.Type = typeName(t)
	} else if t, ok := d.attr("type"); ok {
		v.Type = typeName([]byte(t))
	}
	text := d.text()
	if v.Type == "" {
		v.Untyped = true
		v.Type = cwmp.TypeString
	}
	if v.Type != cwmp.TypeString && v.Type.Known() {
		text = trimSpace(text)
	}
	v.Text = text
	return v
}

// typeName reads an xsi:type value such as "xsd:unsignedInt" by its local
// name: devices bind the prefix to all sorts of namespaces.
func typeName(t []byte) cwmp.Type {
	if i := bytes.LastIndexByte(t, ':'); i >= 0 {
		t = t[i+1:]
	}
	t = bytes.TrimSpace(t)
	switch string(t) { // the common spellings, without allocating
	case "string":
		return cwmp.TypeString
	case "unsignedInt":
		return cwmp.TypeUnsignedInt
	case "boolean":
		return cwmp.TypeBoolean
	case "int":
		return cwmp.TypeInt
	case "dateTime":
		return cwmp.TypeDateTime
	case "unsignedLong":
		return cwmp.TypeUnsignedLong
	case "long":
		return cwmp.TypeLong
	case "base64":
		return cwmp.TypeBase64
	case "hexBinary":
		return cwmp.TypeHexBinary
	case "":
		return cwmp.TypeString
	}
	return cwmp.ParseType(string(t))
}

func (d *decoder) paramValues() []cwmp.ParameterValue {
	var out []cwmp.ParameterValue
	for d.child() {
		var p cwmp.ParameterValue
		for d.child() {
			switch string(d.local) {
			case "Name":
				p.Name = d.str()
			case "Value":
				p.Value = d.value()
			default:
				d.skip()
			}
		}
		if p.Value.Untyped {
			if t, ok := modelType(p.Name); ok {
				p.Value.Type = t
				p.Value.Text = trimSpace(p.Value.Text)
			}
		}
		out = append(out, p)
	}
	return out
}

func (d *decoder) faultStruct() cwmp.FaultStruct {
	var f cwmp.FaultStruct
	for d.child() {
		switch string(d.local) {
		case "FaultCode":
			f.FaultCode = cwmp.FaultCode(d.u32())
		case "FaultString":
			f.FaultString = d.str()
		default:
			d.skip()
		}
	}
	return f
}

// body reads the RPC element whose start tag was just read.
func (d *decoder) body() cwmp.Body {
	name := string(d.local)
	if name == "Fault" {
		return d.fault()
	}
	b := cwmp.New(name)
	if b == nil {
		for _, m := range cwmp.Methods() {
			if strings.EqualFold(m, name) {
				b = cwmp.New(m)
				break
			}
		}
	}
	if b == nil {
		d.skip()
		return &cwmp.Unknown{Name: name}
	}
	switch m := b.(type) {
	case *cwmp.Inform:
		d.inform(m)
	case *cwmp.InformResponse:
		for d.child() {
			if string(d.local) == "MaxEnvelopes" {
				m.MaxEnvelopes = d.u32()
			} else {
				d.skip()
			}
		}
	case *cwmp.TransferComplete:
		for d.child() {
			switch string(d.local) {
			case "CommandKey":
				m.CommandKey = d.str()
			case "FaultStruct":
				m.FaultStruct = d.faultStruct()
			case "StartTime":
				m.StartTime = d.time()
			case "CompleteTime":
				m.CompleteTime = d.time()
			default:
				d.skip()
			}
		}
	case *cwmp.AutonomousTransferComplete:
		for d.child() {
			switch string(d.local) {
			case "AnnounceURL":
				m.AnnounceURL = d.str()
			case "TransferURL":
				m.TransferURL = d.str()
			case "IsDownload":
				m.IsDownload = d.boolean()
			case "FileType":
				m.FileType = d.str()
			case "FileSize":
				m.FileSize = d.u32()
			case "TargetFileName":
				m.TargetFileName = d.str()
			case "FaultStruct":
				m.FaultStruct = d.faultStruct()
			case "StartTime":
				m.StartTime = d.time()
			case "CompleteTime":
				m.CompleteTime = d.time()
			default:
				d.skip()
			}
		}
	case *cwmp.RequestDownload:
		for d.child() {
			switch string(d.local) {
			case "FileType":
				m.FileType = d.str()
			case "FileTypeArg":
				for d.child() {
					var a cwmp.ArgStruct
					for d.child() {
						switch string(d.local) {
						case "Name":
							a.Name = d.str()
						case "Value":
							a.Value = d.text()
						default:
							d.skip()
						}
					}
					m.FileTypeArg = append(m.FileTypeArg, a)
				}
			default:
				d.skip()
			}
		}
	case *cwmp.DUStateChangeComplete:
		for d.child() {
			switch string(d.local) {
			case "Results":
				m.Results = append(m.Results, d.opResult())
			case "CommandKey":
				m.CommandKey = d.str()
			default:
				d.skip()
			}
		}
	case *cwmp.AutonomousDUStateChangeComplete:
		for d.child() {
			if string(d.local) == "Results" {
				m.Results = append(m.Results, d.opResult())
			} else {
				d.skip()
			}
		}
	case *cwmp.Kicked:
		for d.child() {
			switch string(d.local) {
			case "Command":
				m.Command = d.str()
			case "Referer":
				m.Referer = d.str()
			case "Arg":
				m.Arg = d.text()
			case "Next":
				m.Next = d.str()
			default:
				d.skip()
			}
		}
	case *cwmp.KickedResponse:
		d.fields(func(n string) {
			if n == "NextURL" {
				m.NextURL = d.str()
			} else {
				d.skip()
			}
		})
	case *cwmp.GetRPCMethodsResponse:
		d.fields(func(n string) {
			if n == "MethodList" {
				m.MethodList = d.strings()
			} else {
				d.skip()
			}
		})
	case *cwmp.GetParameterNames:
		d.fields(func(n string) {
			switch n {
			case "ParameterPath":
				m.ParameterPath = d.str()
			case "NextLevel":
				m.NextLevel = d.boolean()
			default:
				d.skip()
			}
		})
	case *cwmp.GetParameterNamesResponse:
		d.fields(func(n string) {
			if n != "ParameterList" {
				d.skip()
				return
			}
			for d.child() {
				var p cwmp.ParameterInfo
				for d.child() {
					switch string(d.local) {
					case "Name":
						p.Name = d.str()
					case "Writable":
						p.Writable = d.boolean()
					default:
						d.skip()
					}
				}
				m.ParameterList = append(m.ParameterList, p)
			}
		})
	case *cwmp.GetParameterValues:
		d.fields(func(n string) {
			if n == "ParameterNames" {
				m.ParameterNames = d.strings()
			} else {
				d.skip()
			}
		})
	case *cwmp.GetParameterValuesResponse:
		d.fields(func(n string) {
			if n == "ParameterList" {
				m.ParameterList = d.paramValues()
			} else {
				d.skip()
			}
		})
	case *cwmp.SetParameterValues:
		d.fields(func(n string) {
			switch n {
			case "ParameterList":
				m.ParameterList = d.paramValues()
			case "ParameterKey":
				m.ParameterKey = d.text()
			default:
				d.skip()
			}
		})
	case *cwmp.SetParameterValuesResponse:
		d.statusOnly(&m.Status)
	case *cwmp.GetParameterAttributes:
		d.fields(func(n string) {
			if n == "ParameterNames" {
				m.ParameterNames = d.strings()
			} else {
				d.skip()
			}
		})
	case *cwmp.GetParameterAttributesResponse:
		d.fields(func(n string) {
			if n != "ParameterList" {
				d.skip()
				return
			}
			for d.child() {
				var a cwmp.ParameterAttribute
				for d.child() {
					switch string(d.local) {
					case "Name":
						a.Name = d.str()
					case "Notification":
						a.Notification = d.int()
					case "AccessList":
						a.AccessList = d.strings()
					default:
						d.skip()
					}
				}
				m.ParameterList = append(m.ParameterList, a)
			}
		})
	case *cwmp.SetParameterAttributes:
		d.fields(func(n string) {
			if n != "ParameterList" {
				d.skip()
				return
			}
			for d.child() {
				var a cwmp.SetParameterAttributesStruct
				for d.child() {
					switch string(d.local) {
					case "Name":
						a.Name = d.str()
					case "NotificationChange":
						a.NotificationChange = d.boolean()
					case "Notification":
						a.Notification = d.int()
					case "AccessListChange":
						a.AccessListChange = d.boolean()
					case "AccessList":
						a.AccessList = d.strings()
					default:
						d.skip()
					}
				}
				m.ParameterList = append(m.ParameterList, a)
			}
		})
	case *cwmp.AddObject:
		d.objectArgs(&m.ObjectName, &m.ParameterKey)
	case *cwmp.DeleteObject:
		d.objectArgs(&m.ObjectName, &m.ParameterKey)
	case *cwmp.AddObjectResponse:
		d.fields(func(n string) {
			switch n {
			case "InstanceNumber":
				m.InstanceNumber = d.u32()
			case "Status":
				m.Status = d.int()
			default:
				d.skip()
			}
		})
	case *cwmp.DeleteObjectResponse:
		d.statusOnly(&m.Status)
	case *cwmp.Reboot:
		d.commandKeyOnly(&m.CommandKey)
	case *cwmp.CancelTransfer:
		d.commandKeyOnly(&m.CommandKey)
	case *cwmp.Download:
		t := transferArgs{&m.CommandKey, &m.FileType, &m.URL, &m.Username, &m.Password, &m.FileSize, &m.TargetFileName}
		d.fields(func(n string) {
			if d.transferField(n, t) {
				return
			}
			switch n {
			case "DelaySeconds":
				m.DelaySeconds = d.u32()
			case "SuccessURL":
				m.SuccessURL = d.str()
			case "FailureURL":
				m.FailureURL = d.str()
			default:
				d.skip()
			}
		})
	case *cwmp.DownloadResponse:
		d.transferResponse(&m.Status, &m.StartTime, &m.CompleteTime)
	case *cwmp.UploadResponse:
		d.transferResponse(&m.Status, &m.StartTime, &m.CompleteTime)
	case *cwmp.Upload:
		t := transferArgs{key: &m.CommandKey, fileType: &m.FileType, url: &m.URL, user: &m.Username, pass: &m.Password}
		d.fields(func(n string) {
			if d.transferField(n, t) {
				return
			}
			switch n {
			case "DelaySeconds":
				m.DelaySeconds = d.u32()
			default:
				d.skip()
			}
		})
	case *cwmp.ScheduleInform:
		d.fields(func(n string) {
			switch n {
			case "DelaySeconds":
				m.DelaySeconds = d.u32()
			case "CommandKey":
				m.CommandKey = d.str()
			default:
				d.skip()
			}
		})
	case *cwmp.ScheduleDownload:
		t := transferArgs{&m.CommandKey, &m.FileType, &m.URL, &m.Username, &m.Password, &m.FileSize, &m.TargetFileName}
		d.fields(func(n string) {
			if d.transferField(n, t) {
				return
			}
			switch n {
			case "TimeWindowList":
				for d.child() {
					var w cwmp.TimeWindow
					for d.child() {
						switch string(d.local) {
						case "WindowStart":
							w.WindowStart = d.u32()
						case "WindowEnd":
							w.WindowEnd = d.u32()
						case "WindowMode":
							w.WindowMode = d.str()
						case "UserMessage":
							w.UserMessage = d.text()
						case "MaxRetries":
							w.MaxRetries = d.i32()
						default:
							d.skip()
						}
					}
					m.TimeWindowList = append(m.TimeWindowList, w)
				}
			default:
				d.skip()
			}
		})
	case *cwmp.GetQueuedTransfersResponse:
		d.fields(func(n string) {
			if n != "TransferList" {
				d.skip()
				return
			}
			for d.child() {
				var q cwmp.QueuedTransfer
				for d.child() {
					switch string(d.local) {
					case "CommandKey":
						q.CommandKey = d.str()
					case "State":
						q.State = d.int()
					default:
						d.skip()
					}
				}
				m.TransferList = append(m.TransferList, q)
			}
		})
	case *cwmp.GetAllQueuedTransfersResponse:
		d.fields(func(n string) {
			if n != "TransferList" {
				d.skip()
				return
			}
			for d.child() {
				var q cwmp.AllQueuedTransfer
				for d.child() {
					switch string(d.local) {
					case "CommandKey":
						q.CommandKey = d.str()
					case "State":
						q.State = d.int()
					case "IsDownload":
						q.IsDownload = d.boolean()
					case "FileType":
						q.FileType = d.str()
					case "FileSize":
						q.FileSize = d.u32()
					case "TargetFileName":
						q.TargetFileName = d.str()
					default:
						d.skip()
					}
				}
				m.TransferList = append(m.TransferList, q)
			}
		})
	case *cwmp.ChangeDUState:
		d.fields(func(n string) {
			switch n {
			case "Operations":
				m.Operations = append(m.Operations, d.duOperation())
			case "CommandKey":
				m.CommandKey = d.str()
			default:
				d.skip()
			}
		})
	case *cwmp.GetOptions:
		d.fields(func(n string) {
			if n == "OptionName" {
				m.OptionName = d.str()
			} else {
				d.skip()
			}
		})
	case *cwmp.GetOptionsResponse:
		d.fields(func(n string) {
			if n != "OptionList" {
				d.skip()
				return
			}
			for d.child() {
				var o cwmp.OptionStruct
				for d.child() {
					switch string(d.local) {
					case "OptionName":
						o.OptionName = d.str()
					case "VoucherSN":
						o.VoucherSN = d.u32()
					case "State":
						o.State = d.u32()
					case "Mode":
						o.Mode = d.int()
					case "StartDate":
						o.StartDate = d.time()
					case "ExpirationDate":
						o.ExpirationDate = d.time()
					case "IsTransferable":
						o.IsTransferable = d.boolean()
					default:
						d.skip()
					}
				}
				m.OptionList = append(m.OptionList, o)
			}
		})
	case *cwmp.SetVouchers:
		d.fields(func(n string) {
			if n == "VoucherList" {
				m.VoucherList = d.strings()
			} else {
				d.skip()
			}
		})
	default:
		// Methods without arguments, and responses without content.
		d.skip()
	}
	return b
}

// transferArgs points at the fields Download, Upload and ScheduleDownload
// share; nil for those a method lacks (Upload has no size or target).
type transferArgs struct {
	key, fileType, url, user, pass *string
	size                           *uint32
	target                         *string
}

// transferField reads one shared transfer field, reporting whether n was
// one. Credentials keep their white space; the rest is trimmed.
func (d *decoder) transferField(n string, t transferArgs) bool {
	switch {
	case n == "CommandKey":
		*t.key = d.str()
	case n == "FileType":
		*t.fileType = d.str()
	case n == "URL":
		*t.url = d.str()
	case n == "Username":
		*t.user = d.text()
	case n == "Password":
		*t.pass = d.text()
	case n == "FileSize" && t.size != nil:
		*t.size = d.u32()
	case n == "TargetFileName" && t.target != nil:
		*t.target = d.str()
	default:
		return false
	}
	return true
}

// fields calls f with the local name of each child of the current element.
func (d *decoder) fields(f func(name string)) {
	for d.child() {
		f(string(d.local))
	}
}

func (d *decoder) statusOnly(status *int) {
	d.fields(func(n string) {
		if n == "Status" {
			*status = d.int()
		} else {
			d.skip()
		}
	})
}

func (d *decoder) commandKeyOnly(key *string) {
	d.fields(func(n string) {
		if n == "CommandKey" {
			*key = d.str()
		} else {
			d.skip()
		}
	})
}

func (d *decoder) objectArgs(name, key *string) {
	d.fields(func(n string) {
		switch n {
		case "ObjectName":
			*name = d.str()
		case "ParameterKey":
			*key = d.text()
		default:
			d.skip()
		}
	})
}

func (d *decoder) transferResponse(status *int, start, complete *time.Time) {
	d.fields(func(n string) {
		switch n {
		case "Status":
			*status = d.int()
		case "StartTime":
			*start = d.time()
		case "CompleteTime":
			*complete = d.time()
		default:
			d.skip()
		}
	})
}

func (d *decoder) inform(m *cwmp.Inform) {
	for d.child() {
		switch string(d.local) {
		case "DeviceId":
			for d.child() {
				switch string(d.local) {
				case "Manufacturer":
					m.DeviceID.Manufacturer = d.str()
				case "OUI":
					m.DeviceID.OUI = d.str()
				case "ProductClass":
					m.DeviceID.ProductClass = d.str()
				case "SerialNumber":
					m.DeviceID.SerialNumber = d.str()
				default:
					d.skip()
				}
			}
		case "Event":
			for d.child() {
				var e cwmp.EventStruct
				for d.child() {
					switch string(d.local) {
					case "EventCode":
						e.EventCode = cwmp.EventCode(d.str())
					case "CommandKey":
						e.CommandKey = d.str()
					default:
						d.skip()
					}
				}
				m.Events = append(m.Events, e)
			}
		case "MaxEnvelopes":
			m.MaxEnvelopes = d.u32()
		case "CurrentTime":
			m.CurrentTime = d.time()
		case "RetryCount":
			m.RetryCount = d.u32()
		case "ParameterList":
			m.ParameterList = d.paramValues()
		default:
			d.skip()
		}
	}
}

func (d *decoder) opResult() cwmp.OpResult {
	var r cwmp.OpResult
	for d.child() {
		switch string(d.local) {
		case "UUID":
			r.UUID = d.str()
		case "DeploymentUnitRef":
			r.DeploymentUnitRef = d.str()
		case "Version":
			r.Version = d.str()
		case "CurrentState":
			r.CurrentState = d.str()
		case "Resolved":
			r.Resolved = d.boolean()
		case "ExecutionUnitRefList":
			r.ExecutionUnitRefList = d.str()
		case "StartTime":
			r.StartTime = d.time()
		case "CompleteTime":
			r.CompleteTime = d.time()
		case "Fault":
			r.Fault = cwmp.DUFaultStruct(d.faultStruct())
		case "OperationPerformed":
			r.OperationPerformed = d.str()
		default:
			d.skip()
		}
	}
	return r
}

func (d *decoder) duOperation() cwmp.DUOperation {
	var op cwmp.DUOperation
	if t, ok := d.attr("type"); ok {
		if i := strings.LastIndexByte(t, ':'); i >= 0 {
			t = t[i+1:]
		}
		op.Kind = strings.TrimSpace(t)
	}
	for d.child() {
		switch string(d.local) {
		case "URL":
			op.URL = d.str()
		case "UUID":
			op.UUID = d.str()
		case "Username":
			op.Username = d.text()
		case "Password":
			op.Password = d.text()
		case "ExecutionEnvRef":
			op.ExecutionEnvRef = d.str()
		case "Version":
			op.Version = d.str()
		default:
			d.skip()
		}
	}
	if op.Kind == "" {
		// No xsi:type: infer from the fields, as an Install needs a URL and
		// an Uninstall has none.
		switch {
		case op.URL != "" && op.UUID == "" && op.Version == "":
			op.Kind = cwmp.DUInstall
		case op.URL == "":
			op.Kind = cwmp.DUUninstall
		default:
			op.Kind = cwmp.DUUpdate
		}
	}
	return op
}

func (d *decoder) fault() *cwmp.Fault {
	f := &cwmp.Fault{}
	for d.child() {
		switch string(d.local) {
		case "faultcode":
			code := d.str()
			if i := strings.LastIndexByte(code, ':'); i >= 0 {
				code = code[i+1:]
			}
			f.SOAPCode = code
		case "faultstring":
			f.SOAPString = d.str()
		case "detail":
			for d.child() {
				if string(d.local) != "Fault" {
					d.skip()
					continue
				}
				for d.child() {
					switch string(d.local) {
					case "FaultCode":
						f.Code = cwmp.FaultCode(d.u32())
					case "FaultString":
						f.String = d.str()
					case "SetParameterValuesFault":
						var p cwmp.SetParameterValuesFault
						for d.child() {
							switch string(d.local) {
							case "ParameterName":
								p.ParameterName = d.str()
							case "FaultCode":
								p.FaultCode = cwmp.FaultCode(d.u32())
							case "FaultString":
								p.FaultString = d.str()
							default:
								d.skip()
							}
						}
						f.SetParameterValuesFaults = append(f.SetParameterValuesFaults, p)
					default:
						d.skip()
					}
				}
			}
		default:
			d.skip()
		}
	}
	return f
}

// latin1Declared reports whether the XML declaration names ISO-8859-1
// (or its aliases), which old CPE stacks still use.
func latin1Declared(data []byte) bool {
	i := 0
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	if !bytes.HasPrefix(data[i:], []byte("<?xml")) {
		return false
	}
	end := bytes.Index(data[i:], []byte("?>"))
	if end < 0 {
		return false
	}
	decl := strings.ToLower(string(data[i : i+end]))
	_, enc, ok := strings.Cut(decl, "encoding")
	if !ok {
		return false
	}
	enc = strings.Trim(strings.TrimLeft(strings.TrimSpace(enc), "= \t"), "\"' ")
	if j := strings.IndexAny(enc, "\"' "); j >= 0 {
		enc = enc[:j]
	}
	return IsLatin1(enc)
}

// IsLatin1 reports whether a charset name means ISO-8859-1.
func IsLatin1(charset string) bool {
	switch strings.ToLower(strings.Trim(charset, "\"' ")) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "cp819", "windows-1252":
		return true
	}
	return false
}

// latin1ToUTF8 converts ISO-8859-1 bytes to UTF-8.
func latin1ToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/8)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}
