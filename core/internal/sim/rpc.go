package sim

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// maxRows bounds the rows AddObject creates per table; beyond it the device
// answers 9004 as a real one with limited memory would.
const maxRows = 256

// answer handles one RPC from the ACS and returns the device's response or
// fault.
func (ss *session) answer(req cwmp.Body) cwmp.Body {
	d := ss.d
	if _, unknown := req.(*cwmp.Unknown); unknown || !d.sim.prof.supports(req.Method()) {
		return cwmp.NewFault(cwmp.FaultMethodNotSupported, req.Method()+" is not supported")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch r := req.(type) {
	case *cwmp.GetRPCMethods:
		return &cwmp.GetRPCMethodsResponse{MethodList: d.sim.prof.Methods}
	case *cwmp.GetParameterNames:
		return d.getNames(r)
	case *cwmp.GetParameterValues:
		return d.getValues(r)
	case *cwmp.SetParameterValues:
		return d.setValues(ss, r)
	case *cwmp.GetParameterAttributes:
		return d.getAttributes(r)
	case *cwmp.SetParameterAttributes:
		return d.setAttributes(r)
	case *cwmp.AddObject:
		return d.addObject(r)
	case *cwmp.DeleteObject:
		return d.deleteObject(r)
	case *cwmp.Reboot:
		key := r.CommandKey
		ss.rebootKey = &key
		return &cwmp.RebootResponse{}
	case *cwmp.FactoryReset:
		ss.reset = true
		return &cwmp.FactoryResetResponse{}
	case *cwmp.ScheduleInform:
		return d.scheduleInform(ss, r)
	case *cwmp.Download:
		return d.download(ss, r)
	case *cwmp.Upload:
		return d.upload(ss, r)
	case *cwmp.ScheduleDownload:
		return d.scheduleDownload(ss, r)
	case *cwmp.GetQueuedTransfers:
		out := &cwmp.GetQueuedTransfersResponse{TransferList: []cwmp.QueuedTransfer{}}
		for _, t := range d.transfers {
			out.TransferList = append(out.TransferList, cwmp.QueuedTransfer{CommandKey: t.req.CommandKey, State: t.queueState()})
		}
		return out
	case *cwmp.GetAllQueuedTransfers:
		out := &cwmp.GetAllQueuedTransfersResponse{TransferList: []cwmp.AllQueuedTransfer{}}
		for _, t := range d.transfers {
			out.TransferList = append(out.TransferList, cwmp.AllQueuedTransfer{
				CommandKey: t.req.CommandKey, State: t.queueState(), IsDownload: t.download,
				FileType: t.req.FileType, FileSize: t.req.FileSize, TargetFileName: t.req.TargetFileName,
			})
		}
		return out
	case *cwmp.CancelTransfer:
		return d.cancelTransfer(r)
	case *cwmp.ChangeDUState:
		return d.changeDUState(ss, r)
	}
	return cwmp.NewFault(cwmp.FaultMethodNotSupported, req.Method()+" is not supported")
}

func badName(name string) *cwmp.Fault {
	return cwmp.NewFault(cwmp.FaultInvalidParameterName, "Invalid parameter name: "+name)
}

// getNames answers GetParameterNames. NextLevel lists the immediate
// children of a partial path; otherwise the path itself and everything
// below it. Objects end in a dot; their Writable says whether rows can be
// added (tables) or deleted (rows).
func (d *Device) getNames(r *cwmp.GetParameterNames) cwmp.Body {
	path := r.ParameterPath
	out := &cwmp.GetParameterNamesResponse{ParameterList: []cwmp.ParameterInfo{}}
	info := func(e *entry) cwmp.ParameterInfo { return cwmp.ParameterInfo{Name: e.name, Writable: e.writable} }
	switch {
	case path == "" && r.NextLevel:
		out.ParameterList = append(out.ParameterList, cwmp.ParameterInfo{Name: d.t.p.Root})
		return out
	case path == "":
		d.t.walk("", func(e *entry) bool { out.ParameterList = append(out.ParameterList, info(e)); return true })
		return out
	}
	e, ok := d.t.get(path)
	if !ok {
		return badName(path)
	}
	if e.kind == kindParam {
		if strings.HasSuffix(path, ".") {
			return badName(path)
		}
		if r.NextLevel {
			return cwmp.NewFault(cwmp.FaultInvalidArguments, "NextLevel is true for a parameter")
		}
		out.ParameterList = append(out.ParameterList, info(e))
		return out
	}
	want := depth(path) + 1
	d.t.walk(path, func(c *entry) bool {
		if !r.NextLevel || depth(c.name) == want {
			if !(r.NextLevel && c.name == path) {
				out.ParameterList = append(out.ParameterList, info(c))
			}
		}
		return true
	})
	return out
}

// resolve expands a GetParameterValues or GetParameterAttributes name: a
// parameter, or every parameter below a partial path ("" is the root).
func (d *Device) resolve(name string, fn func(*entry)) bool {
	if name == "" {
		name = d.t.p.Root
	}
	e, ok := d.t.get(name)
	if !ok {
		return false
	}
	if e.kind == kindParam {
		if strings.HasSuffix(name, ".") {
			return false
		}
		fn(e)
		return true
	}
	d.t.walk(name, func(c *entry) bool {
		if c.kind == kindParam {
			fn(c)
		}
		return true
	})
	return true
}

func (d *Device) getValues(r *cwmp.GetParameterValues) cwmp.Body {
	out := &cwmp.GetParameterValuesResponse{ParameterList: make([]cwmp.ParameterValue, 0, len(r.ParameterNames))}
	for _, name := range r.ParameterNames {
		ok := d.resolve(name, func(e *entry) {
			out.ParameterList = append(out.ParameterList, cwmp.ParameterValue{Name: e.name, Value: d.wireValue(e)})
		})
		if !ok {
			if d.sim.quirks.BareBatch9005 {
				return cwmp.NewFault(cwmp.FaultInvalidParameterName, "")
			}
			return badName(name)
		}
	}
	return out
}

// setValues answers SetParameterValues: every name is checked first and
// either all values are applied or none, with one SetParameterValuesFault
// per refused parameter inside a 9003.
func (d *Device) setValues(ss *session, r *cwmp.SetParameterValues) cwmp.Body {
	f := cwmp.NewFault(cwmp.FaultInvalidArguments, "")
	refuse := func(name string, code cwmp.FaultCode, msg string) {
		f.SetParameterValuesFaults = append(f.SetParameterValuesFaults, cwmp.SetParameterValuesFault{ParameterName: name, FaultCode: code, FaultString: or(msg, code.Meaning())})
	}
	seen := make(map[string]bool, len(r.ParameterList))
	entries := make([]*entry, len(r.ParameterList))
	for i, p := range r.ParameterList {
		if seen[p.Name] {
			return cwmp.NewFault(cwmp.FaultInvalidArguments, "parameter "+p.Name+" given twice")
		}
		seen[p.Name] = true
		e, ok := d.t.get(p.Name)
		switch {
		case !ok || e.kind != kindParam || strings.HasSuffix(p.Name, "."):
			refuse(p.Name, cwmp.FaultInvalidParameterName, "")
			continue
		case !e.writable:
			refuse(p.Name, cwmp.FaultNonWritableParameter, "")
			continue
		case !p.Value.Untyped && p.Value.Type != "" && !compatible(p.Value.Type, e.typ):
			refuse(p.Name, cwmp.FaultInvalidParameterType, string(p.Value.Type)+" given for a "+string(e.typ))
			continue
		case !validValue(e.typ, p.Value.Text) || !inRange(d.t.p, e, p.Value.Text):
			refuse(p.Name, cwmp.FaultInvalidParameterValue, "")
			continue
		}
		entries[i] = e
	}
	if len(f.SetParameterValuesFaults) > 0 {
		return f
	}
	ms := d.t.p.Root + "ManagementServer."
	for i, p := range r.ParameterList {
		e := entries[i]
		v := p.Value.Text
		if e.typ == cwmp.TypeBoolean {
			b, _ := cwmp.ParseBool(v)
			v = strconv.FormatBool(b)
		} else if e.typ != cwmp.TypeString {
			v = strings.TrimSpace(v)
		}
		old := d.value(e)
		d.t.set(e.name, v)
		if e.name == ms+"URL" && v != old {
			// A new ACS: TR-069 makes the device bootstrap with it.
			d.bootstrapped = false
			d.addEvent(cwmp.EventBootstrap, "")
		}
	}
	d.t.set(ms+"ParameterKey", r.ParameterKey)
	if ss.conn != nil {
		// New ACS credentials apply at once, to the rest of this session
		// too: the ACS may refuse the old ones as soon as it has sent these.
		ss.conn.user, ss.conn.pass = d.raw(ms+"Username"), d.raw(ms+"Password")
	}
	return &cwmp.SetParameterValuesResponse{Status: 0}
}

// compatible reports whether a value sent with type sent may be stored in
// a parameter of type want. Strings are accepted for anything, as ACSs
// that do not know the model send them; integer types mix freely, the
// range being checked on the value.
func compatible(sent, want cwmp.Type) bool {
	sent = cwmp.ParseType(strings.TrimPrefix(strings.TrimPrefix(string(sent), "xsd:"), "soap-enc:"))
	if sent == want || sent == cwmp.TypeString {
		return true
	}
	integer := func(t cwmp.Type) bool {
		return t == cwmp.TypeInt || t == cwmp.TypeUnsignedInt || t == cwmp.TypeLong || t == cwmp.TypeUnsignedLong
	}
	return integer(sent) && integer(want)
}

// validValue reports whether text is a value of type t.
func validValue(t cwmp.Type, text string) bool {
	s := strings.TrimSpace(text)
	var err error
	switch t {
	case cwmp.TypeInt:
		_, err = strconv.ParseInt(s, 10, 32)
	case cwmp.TypeUnsignedInt:
		_, err = strconv.ParseUint(s, 10, 32)
	case cwmp.TypeLong:
		_, err = strconv.ParseInt(s, 10, 64)
	case cwmp.TypeUnsignedLong:
		_, err = strconv.ParseUint(s, 10, 64)
	case cwmp.TypeBoolean:
		_, err = cwmp.ParseBool(s)
	case cwmp.TypeDateTime:
		if s == "" {
			return false
		}
		_, err = cwmp.ParseDateTime(s)
	case cwmp.TypeBase64:
		_, err = base64.StdEncoding.DecodeString(s)
	case cwmp.TypeHexBinary:
		_, err = hex.DecodeString(s)
	default:
		return len(text) <= 64<<10
	}
	return err == nil
}

// inRange checks the few ranges the table does not carry but devices
// enforce, so that an ACS sees 9007 where a real device would give it.
func inRange(p *Profile, e *entry, text string) bool {
	switch strings.TrimPrefix(e.name, p.Root) {
	case "ManagementServer.PeriodicInformInterval":
		n, _ := strconv.ParseUint(strings.TrimSpace(text), 10, 32)
		return n >= 1
	case "ManagementServer.CWMPRetryMinimumWaitInterval":
		n, _ := strconv.ParseUint(strings.TrimSpace(text), 10, 32)
		return n >= 1 && n <= 65535
	case "ManagementServer.CWMPRetryIntervalMultiplier":
		n, _ := strconv.ParseUint(strings.TrimSpace(text), 10, 32)
		return n >= 1000 && n <= 65535
	}
	return true
}

func (d *Device) getAttributes(r *cwmp.GetParameterAttributes) cwmp.Body {
	out := &cwmp.GetParameterAttributesResponse{ParameterList: []cwmp.ParameterAttribute{}}
	for _, name := range r.ParameterNames {
		ok := d.resolve(name, func(e *entry) {
			out.ParameterList = append(out.ParameterList, cwmp.ParameterAttribute{
				Name: e.name, Notification: int(d.t.notification(e)), AccessList: d.t.accessList(e),
			})
		})
		if !ok {
			return badName(name)
		}
	}
	return out
}

// setAttributes answers SetParameterAttributes. A named parameter that
// refuses the change gives 9009; below a partial path such parameters are
// skipped. Nothing changes unless everything can.
func (d *Device) setAttributes(r *cwmp.SetParameterAttributes) cwmp.Body {
	type change struct {
		e *entry
		a attr
	}
	var changes []change
	for _, s := range r.ParameterList {
		if s.NotificationChange && (s.Notification < 0 || s.Notification > 2) {
			return cwmp.NewFault(cwmp.FaultInvalidArguments, "notification "+strconv.Itoa(s.Notification)+" is not supported")
		}
		if s.AccessListChange {
			for _, a := range s.AccessList {
				if a != "Subscriber" {
					return cwmp.NewFault(cwmp.FaultInvalidArguments, "unknown access list entry "+a)
				}
			}
		}
		explicit := s.Name != "" && !strings.HasSuffix(s.Name, ".")
		var refused *cwmp.Fault
		ok := d.resolve(s.Name, func(e *entry) {
			a := d.t.attrs[e.name]
			if s.NotificationChange {
				n := int8(s.Notification)
				switch {
				case n == 2 && e.is(flagDenyActive), e.is(flagForcedActive) && n != 2:
					if explicit {
						refused = cwmp.NewFault(cwmp.FaultNotificationRejected, "notification "+strconv.Itoa(int(n))+" refused for "+e.name)
					}
					return
				}
				a.notification = n
			}
			if s.AccessListChange {
				a.access = append([]string{}, s.AccessList...)
			}
			changes = append(changes, change{e, a})
		})
		if !ok {
			return badName(s.Name)
		}
		if refused != nil {
			return refused
		}
	}
	for _, c := range changes {
		if c.e.is(flagForcedActive) {
			c.a.notification = 0 // implied; only the access list is stored
		}
		d.t.setAttr(c.e.name, c.a)
	}
	d.armTraffic()
	return &cwmp.SetParameterAttributesResponse{}
}

func (d *Device) addObject(r *cwmp.AddObject) cwmp.Body {
	name := r.ObjectName
	e, ok := d.t.get(name)
	if !ok || e.kind != kindTable || !strings.HasSuffix(name, ".") {
		return badName(name)
	}
	rs, ok := d.t.p.rows[patternOf(name)+"{i}."]
	if !ok || !rs.writable {
		return cwmp.NewFault(cwmp.FaultRequestDenied, "rows of "+name+" cannot be created")
	}
	if d.t.countRows(name) >= maxRows {
		return cwmp.NewFault(cwmp.FaultResourcesExceeded, "")
	}
	n := d.t.addRow(name, rs)
	d.t.set(d.t.p.Root+"ManagementServer.ParameterKey", r.ParameterKey)
	return &cwmp.AddObjectResponse{InstanceNumber: n, Status: 0}
}

func (d *Device) deleteObject(r *cwmp.DeleteObject) cwmp.Body {
	name := r.ObjectName
	e, ok := d.t.get(name)
	if !ok || e.kind != kindObject || !isRow(name) || !strings.HasSuffix(name, ".") {
		return badName(name)
	}
	if !e.writable {
		return cwmp.NewFault(cwmp.FaultRequestDenied, name+" cannot be deleted")
	}
	d.t.deleteRow(name)
	d.t.set(d.t.p.Root+"ManagementServer.ParameterKey", r.ParameterKey)
	return &cwmp.DeleteObjectResponse{Status: 0}
}

// scheduleInform answers ScheduleInform: DelaySeconds after the request,
// the device informs with 3 SCHEDULED and M ScheduleInform.
func (d *Device) scheduleInform(ss *session, r *cwmp.ScheduleInform) cwmp.Body {
	if r.DelaySeconds == 0 {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "DelaySeconds must be at least 1")
	}
	key := r.CommandKey
	d.after(time.Duration(r.DelaySeconds)*time.Second, func(d *Device) {
		d.addEvent(cwmp.EventScheduled, "")
		d.addEvent(cwmp.EventMScheduleInform, key)
		d.wantSession()
	})
	return &cwmp.ScheduleInformResponse{}
}

// after runs fn (with d.mu held) once delay has passed; factory reset and
// halting cancel it. A device that is down when the time comes acts when
// it is back, since its events wait in pending.
func (d *Device) after(delay time.Duration, fn func(*Device)) {
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		for i, x := range d.timers {
			if x == t {
				d.timers = append(d.timers[:i], d.timers[i+1:]...)
				fn(d)
				return
			}
		}
	})
	d.timers = append(d.timers, t)
}
