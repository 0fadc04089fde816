// Package scripttest runs provisioning scripts against an in-memory CPE
// without a network: the CPE answers RPCs from a parameter tree built from
// the standard data model's defaults, and talks to the real session engine
// through its Handle method. `provisor script test` and the script tests
// use it.
package scripttest

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/datamodel"
)

// Profiles are the data models a Device can be built from.
var Profiles = []string{"tr181", "tr098"}

// Param is one parameter of a Device.
type Param struct {
	Value        string
	Type         cwmp.Type
	Writable     bool
	Notification int
	AccessList   []string
}

type table struct {
	rowPattern string // e.g. "Device.WiFi.SSID.{i}."
	writable   bool
}

// model is one profile's data model entries, shared by every device.
type model struct {
	root    string
	entries []datamodel.Param
}

var models sync.Map // profile -> *model

func loadModel(profile string) (*model, error) {
	if m, ok := models.Load(profile); ok {
		return m.(*model), nil
	}
	var root, prefix string
	switch profile {
	case "tr181", "":
		root, prefix = "Device.", "Device:"
	case "tr098":
		root, prefix = "InternetGatewayDevice.", "InternetGatewayDevice:"
	default:
		return nil, fmt.Errorf("unknown profile %q (known: %s)", profile, strings.Join(Profiles, ", "))
	}
	m := &model{root: root}
	for _, p := range datamodel.All() {
		if strings.HasPrefix(p.Model, prefix) {
			m.entries = append(m.entries, p)
		}
	}
	models.Store(profile, m)
	return m, nil
}

// Device is an in-memory CPE. Its methods are safe for concurrent use.
type Device struct {
	ID   cwmp.DeviceID
	Root string

	mu      sync.Mutex
	model   *model
	params  map[string]*Param
	objects map[string]bool // object and row paths ("….1."), value: deletable
	tables  map[string]table
	// pending is what the device reports in its next session.
	pending   []cwmp.EventStruct
	transfers []cwmp.TransferComplete
	version   string // firmware version to boot into
	faults    map[string][]*cwmp.Fault
	// TransferFault decides how a transfer to a URL ends; nil succeeds.
	TransferFault func(fileType, url string) cwmp.FaultStruct
	// Observe, when set, sees every RPC the device answers.
	Observe  func(Exchange)
	requests []cwmp.Body
}

// QueueRequest makes the device send a request of its own (RequestDownload,
// AutonomousTransferComplete, …) in its next session, after the Inform.
func (d *Device) QueueRequest(req cwmp.Body) {
	d.mu.Lock()
	d.requests = append(d.requests, req)
	d.mu.Unlock()
}

// NewDevice builds a device of a profile ("tr181" or "tr098") with one
// instance of every table, the data model's defaults, and an identity.
func NewDevice(profile string, id cwmp.DeviceID) (*Device, error) {
	m, err := loadModel(profile)
	if err != nil {
		return nil, err
	}
	d := &Device{ID: id, Root: m.root, model: m, faults: map[string][]*cwmp.Fault{}}
	d.factory()
	return d, nil
}

func inst(pattern, n string) string { return strings.ReplaceAll(pattern, "{i}", n) }

func zero(t datamodel.Type) string {
	switch t {
	case datamodel.TypeBoolean:
		return "false"
	case datamodel.TypeInt, datamodel.TypeUnsignedInt, datamodel.TypeLong, datamodel.TypeUnsignedLong, datamodel.TypeDecimal:
		return "0"
	case datamodel.TypeDateTime:
		return "0001-01-01T00:00:00Z"
	}
	return ""
}

// factory resets the tree to what the device ships with.
func (d *Device) factory() {
	d.params = map[string]*Param{}
	d.objects = map[string]bool{}
	d.tables = map[string]table{}
	for _, e := range d.model.entries {
		name := inst(e.Pattern, "1")
		if e.Object {
			d.objects[name] = e.Writable && strings.HasSuffix(e.Pattern, "{i}.")
			if strings.HasSuffix(e.Pattern, "{i}.") {
				d.tables[inst(strings.TrimSuffix(e.Pattern, "{i}."), "1")] = table{rowPattern: e.Pattern, writable: e.Writable}
			}
			continue
		}
		v := e.Default
		if !e.HasDefault {
			v = zero(e.Type)
		}
		d.params[name] = &Param{Value: v, Type: cwmp.Type(e.Type), Writable: e.Writable}
	}
	r := d.Root
	serial := d.ID.SerialNumber
	for name, val := range map[string]string{
		"DeviceInfo.Manufacturer":                           d.ID.Manufacturer,
		"DeviceInfo.ManufacturerOUI":                        d.ID.OUI,
		"DeviceInfo.ProductClass":                           d.ID.ProductClass,
		"DeviceInfo.SerialNumber":                           serial,
		"DeviceInfo.ModelName":                              "Provisor Test CPE",
		"DeviceInfo.SoftwareVersion":                        "1.0.0",
		"DeviceInfo.HardwareVersion":                        "rev.A",
		"DeviceInfo.UpTime":                                 "3600",
		"ManagementServer.URL":                              "http://acs.invalid/cwmp",
		"ManagementServer.PeriodicInformEnable":             "true",
		"ManagementServer.PeriodicInformInterval":           "3600",
		"ManagementServer.ConnectionRequestURL":             "http://127.0.0.1:7547/" + serial,
		"ManagementServer.ConnectionRequestUsername":        serial,
		"WiFi.Radio.1.Channel":                              "6",
		"WiFi.Radio.1.PossibleChannels":                     "1-11",
		"WiFi.Radio.1.OperatingFrequencyBand":               "2.4GHz",
		"WiFi.Radio.1.AutoChannelEnable":                    "true",
		"WiFi.SSID.1.SSID":                                  "provisor-" + serial,
		"LANDevice.1.WLANConfiguration.1.Channel":           "6",
		"LANDevice.1.WLANConfiguration.1.SSID":              "provisor-" + serial,
		"LANDevice.1.WLANConfiguration.1.AutoChannelEnable": "true",
	} {
		if p, ok := d.params[r+name]; ok {
			p.Value = val
		}
	}
	if d.version != "" {
		d.params[r+"DeviceInfo.SoftwareVersion"].Value = d.version
	}
	d.recount()
}

// recount sets every …NumberOfEntries parameter to its table's row count.
func (d *Device) recount() {
	for name, p := range d.params {
		stem, ok := strings.CutSuffix(name, "NumberOfEntries")
		if !ok {
			continue
		}
		tbl := stem + "."
		if _, ok := d.tables[tbl]; ok {
			p.Value = strconv.Itoa(len(d.rows(tbl)))
		}
	}
}

// rows lists the instance numbers of a table.
func (d *Device) rows(tbl string) []int {
	var out []int
	for o := range d.objects {
		rest, ok := strings.CutPrefix(o, tbl)
		if !ok {
			continue
		}
		num, tail, _ := strings.Cut(rest, ".")
		if tail != "" {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Get returns a parameter's value as the device holds it.
func (d *Device) Get(name string) (Param, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.params[name]
	if !ok {
		return Param{}, false
	}
	return *p, true
}

// Set changes a parameter locally, as the device's own user would.
func (d *Device) Set(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.params[name]; ok {
		p.Value = value
	} else {
		d.params[name] = &Param{Value: value, Type: cwmp.TypeString, Writable: true}
	}
}

// Define adds or replaces a parameter, such as a vendor extension.
func (d *Device) Define(name string, p Param) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.params[name] = &p
}

// Snapshot copies the tree: parameter name -> value, and object paths with
// an empty value.
func (d *Device) Snapshot() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]string, len(d.params)+len(d.objects))
	for n, p := range d.params {
		out[n] = p.Value
	}
	for o := range d.objects {
		out[o] = ""
	}
	return out
}

// Names lists every parameter name, sorted.
func (d *Device) Names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.params))
	for n := range d.params {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// InjectFault makes the device answer the next call of method with f.
func (d *Device) InjectFault(method string, f *cwmp.Fault) {
	d.mu.Lock()
	d.faults[method] = append(d.faults[method], f)
	d.mu.Unlock()
}

// AddEvent queues an event for the next session.
func (d *Device) AddEvent(code cwmp.EventCode, key string) {
	d.mu.Lock()
	d.pending = append(d.pending, cwmp.EventStruct{EventCode: code, CommandKey: key})
	d.mu.Unlock()
}

// isObject reports whether n names an object: a single object, a row, or a
// table ("Device.WiFi.SSID.").
func (d *Device) isObject(n string) bool {
	if _, ok := d.objects[n]; ok {
		return true
	}
	_, ok := d.tables[n]
	return ok
}

func hidden(name string) bool {
	leaf := name[strings.LastIndexByte(name, '.')+1:]
	return strings.Contains(leaf, "Password") || leaf == "PreSharedKey" || leaf == "KeyPassphrase" || strings.HasPrefix(leaf, "WEPKey")
}

func badName(name string) *cwmp.Fault {
	return cwmp.NewFault(cwmp.FaultInvalidParameterName, "no such parameter: "+name)
}

// Answer is the device's answer to one RPC from the ACS.
func (d *Device) Answer(req cwmp.Body) cwmp.Body {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q := d.faults[req.Method()]; len(q) > 0 {
		d.faults[req.Method()] = q[1:]
		return q[0]
	}
	switch r := req.(type) {
	case *cwmp.GetRPCMethods:
		return &cwmp.GetRPCMethodsResponse{MethodList: []string{"GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues",
			"GetParameterAttributes", "SetParameterAttributes", "AddObject", "DeleteObject", "Reboot", "Download", "Upload", "FactoryReset", "ScheduleInform"}}
	case *cwmp.GetParameterNames:
		return d.getNames(r)
	case *cwmp.GetParameterValues:
		return d.getValues(r)
	case *cwmp.SetParameterValues:
		return d.setValues(r)
	case *cwmp.GetParameterAttributes:
		return d.getAttributes(r)
	case *cwmp.SetParameterAttributes:
		return d.setAttributes(r)
	case *cwmp.AddObject:
		return d.addObject(r)
	case *cwmp.DeleteObject:
		return d.deleteObject(r)
	case *cwmp.Reboot:
		d.pending = append(d.pending, cwmp.EventStruct{EventCode: cwmp.EventBoot}, cwmp.EventStruct{EventCode: cwmp.EventMReboot, CommandKey: r.CommandKey})
		return &cwmp.RebootResponse{}
	case *cwmp.FactoryReset:
		d.factory()
		d.pending = append(d.pending, cwmp.EventStruct{EventCode: cwmp.EventBootstrap}, cwmp.EventStruct{EventCode: cwmp.EventBoot})
		return &cwmp.FactoryResetResponse{}
	case *cwmp.ScheduleInform:
		return &cwmp.ScheduleInformResponse{}
	case *cwmp.Download:
		if f := checkURL(r.URL); f != nil {
			return f
		}
		fs := d.transferOutcome(r.FileType, r.URL)
		d.transfers = append(d.transfers, cwmp.TransferComplete{CommandKey: r.CommandKey, FaultStruct: fs})
		d.pending = append(d.pending, cwmp.EventStruct{EventCode: cwmp.EventMDownload, CommandKey: r.CommandKey})
		if fs.OK() && r.FileType == cwmp.FileFirmware {
			if v := versionIn(r.URL); v != "" {
				d.version = v
			}
			d.pending = append(d.pending, cwmp.EventStruct{EventCode: cwmp.EventBoot})
		}
		return &cwmp.DownloadResponse{Status: 1}
	case *cwmp.Upload:
		if f := checkURL(r.URL); f != nil {
			return f
		}
		d.transfers = append(d.transfers, cwmp.TransferComplete{CommandKey: r.CommandKey, FaultStruct: d.transferOutcome(r.FileType, r.URL)})
		d.pending = append(d.pending, cwmp.EventStruct{EventCode: cwmp.EventMUpload, CommandKey: r.CommandKey})
		return &cwmp.UploadResponse{Status: 1}
	}
	return cwmp.NewFault(cwmp.FaultMethodNotSupported, req.Method()+" is not supported")
}

func (d *Device) transferOutcome(fileType, u string) cwmp.FaultStruct {
	if d.TransferFault != nil {
		return d.TransferFault(fileType, u)
	}
	return cwmp.FaultStruct{}
}

func checkURL(raw string) *cwmp.Fault {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "bad URL "+raw)
	}
	switch u.Scheme {
	case "http", "https", "ftp":
		return nil
	}
	return cwmp.NewFault(cwmp.FaultUnsupportedProtocol, "unsupported protocol "+u.Scheme)
}

var versionPattern = regexp.MustCompile(`\d+(?:\.\d+)+(?:[-_.]?[A-Za-z]+\d*)?`)

// versionIn guesses the firmware version a URL's file name carries
// ("fw-7.2.1.bin" -> "7.2.1"), which the device reports after the upgrade.
func versionIn(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	base := strings.TrimSuffix(path.Base(u.Path), path.Ext(u.Path))
	return versionPattern.FindString(base)
}

func (d *Device) getNames(r *cwmp.GetParameterNames) cwmp.Body {
	p := r.ParameterPath
	if p == "" {
		if r.NextLevel {
			return &cwmp.GetParameterNamesResponse{ParameterList: []cwmp.ParameterInfo{{Name: d.Root, Writable: false}}}
		}
		p = d.Root
	}
	if prm, ok := d.params[p]; ok {
		return &cwmp.GetParameterNamesResponse{ParameterList: []cwmp.ParameterInfo{{Name: p, Writable: prm.Writable}}}
	}
	if !d.isObject(p) {
		return badName(p)
	}
	var out []cwmp.ParameterInfo
	list := func(o string, writable bool) {
		rest, ok := strings.CutPrefix(o, p)
		if !ok || (rest == "" && r.NextLevel) {
			return
		}
		if r.NextLevel && strings.Count(rest, ".") != 1 {
			return
		}
		out = append(out, cwmp.ParameterInfo{Name: o, Writable: writable})
	}
	for o, del := range d.objects {
		if _, isTable := d.tables[o]; !isTable {
			list(o, del)
		}
	}
	for t, tbl := range d.tables {
		list(t, tbl.writable)
	}
	for n, prm := range d.params {
		rest, ok := strings.CutPrefix(n, p)
		if !ok || (r.NextLevel && strings.Contains(rest, ".")) {
			continue
		}
		out = append(out, cwmp.ParameterInfo{Name: n, Writable: prm.Writable})
	}
	slices.SortFunc(out, func(a, b cwmp.ParameterInfo) int { return strings.Compare(a.Name, b.Name) })
	return &cwmp.GetParameterNamesResponse{ParameterList: out}
}

func (d *Device) wire(name string, p *Param) cwmp.ParameterValue {
	v := p.Value
	if hidden(name) {
		v = ""
	}
	return cwmp.ParameterValue{Name: name, Value: cwmp.Value{Type: p.Type, Text: v}}
}

func (d *Device) getValues(r *cwmp.GetParameterValues) cwmp.Body {
	var out []cwmp.ParameterValue
	for _, n := range r.ParameterNames {
		if p, ok := d.params[n]; ok {
			out = append(out, d.wire(n, p))
			continue
		}
		if n == "" {
			n = d.Root
		}
		if !d.isObject(n) {
			return badName(n)
		}
		var names []string
		for name := range d.params {
			if strings.HasPrefix(name, n) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			out = append(out, d.wire(name, d.params[name]))
		}
	}
	return &cwmp.GetParameterValuesResponse{ParameterList: out}
}

func validValue(t cwmp.Type, text string) bool {
	var err error
	switch t {
	case cwmp.TypeInt:
		_, err = strconv.ParseInt(strings.TrimSpace(text), 10, 32)
	case cwmp.TypeLong:
		_, err = strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	case cwmp.TypeUnsignedInt:
		_, err = strconv.ParseUint(strings.TrimSpace(text), 10, 32)
	case cwmp.TypeUnsignedLong:
		_, err = strconv.ParseUint(strings.TrimSpace(text), 10, 64)
	case cwmp.TypeBoolean:
		_, err = cwmp.ParseBool(text)
	case cwmp.TypeDateTime:
		_, err = cwmp.ParseDateTime(text)
	}
	return err == nil
}

func (d *Device) setValues(r *cwmp.SetParameterValues) cwmp.Body {
	f := cwmp.NewFault(cwmp.FaultInvalidArguments, "")
	for _, pv := range r.ParameterList {
		p, ok := d.params[pv.Name]
		var code cwmp.FaultCode
		switch {
		case !ok:
			code = cwmp.FaultInvalidParameterName
		case !p.Writable:
			code = cwmp.FaultNonWritableParameter
		case !validValue(p.Type, pv.Value.Text):
			code = cwmp.FaultInvalidParameterValue
		}
		if code != 0 {
			f.SetParameterValuesFaults = append(f.SetParameterValuesFaults, cwmp.SetParameterValuesFault{ParameterName: pv.Name, FaultCode: code, FaultString: code.Meaning()})
		}
	}
	if len(f.SetParameterValuesFaults) > 0 {
		return f
	}
	for _, pv := range r.ParameterList {
		text := pv.Value.Text
		if d.params[pv.Name].Type == cwmp.TypeBoolean {
			b, _ := cwmp.ParseBool(text)
			text = strconv.FormatBool(b)
		}
		d.params[pv.Name].Value = text
	}
	if p, ok := d.params[d.Root+"ManagementServer.ParameterKey"]; ok {
		p.Value = r.ParameterKey
	}
	for _, pv := range r.ParameterList {
		if obj, ok := strings.CutSuffix(pv.Name, "DiagnosticsState"); ok && pv.Value.Text == "Requested" {
			d.diagnose(obj)
		}
	}
	return &cwmp.SetParameterValuesResponse{Status: 0}
}

func (d *Device) attrTargets(n string) ([]string, bool) {
	if _, ok := d.params[n]; ok {
		return []string{n}, true
	}
	if !d.isObject(n) {
		return nil, false
	}
	var out []string
	for name := range d.params {
		if strings.HasPrefix(name, n) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, true
}

func (d *Device) getAttributes(r *cwmp.GetParameterAttributes) cwmp.Body {
	var out []cwmp.ParameterAttribute
	for _, n := range r.ParameterNames {
		names, ok := d.attrTargets(n)
		if !ok {
			return badName(n)
		}
		for _, name := range names {
			p := d.params[name]
			acl := p.AccessList
			if acl == nil {
				acl = []string{}
			}
			out = append(out, cwmp.ParameterAttribute{Name: name, Notification: p.Notification, AccessList: slices.Clone(acl)})
		}
	}
	return &cwmp.GetParameterAttributesResponse{ParameterList: out}
}

func (d *Device) setAttributes(r *cwmp.SetParameterAttributes) cwmp.Body {
	for _, a := range r.ParameterList {
		if _, ok := d.attrTargets(a.Name); !ok {
			return badName(a.Name)
		}
	}
	for _, a := range r.ParameterList {
		names, _ := d.attrTargets(a.Name)
		for _, name := range names {
			p := d.params[name]
			if a.NotificationChange {
				p.Notification = a.Notification
			}
			if a.AccessListChange {
				p.AccessList = slices.Clone(a.AccessList)
			}
		}
	}
	return &cwmp.SetParameterAttributesResponse{}
}

func (d *Device) addObject(r *cwmp.AddObject) cwmp.Body {
	tbl, ok := d.tables[r.ObjectName]
	if !ok {
		return badName(r.ObjectName)
	}
	if !tbl.writable {
		return cwmp.NewFault(cwmp.FaultRequestDenied, r.ObjectName+" does not allow AddObject")
	}
	n := 1
	if rows := d.rows(r.ObjectName); len(rows) > 0 {
		n = rows[len(rows)-1] + 1
	}
	row := r.ObjectName + strconv.Itoa(n) + "."
	for _, e := range d.model.entries {
		rest, ok := strings.CutPrefix(e.Pattern, tbl.rowPattern)
		if !ok {
			continue
		}
		switch c := strings.Count(rest, "{i}"); {
		case e.Object && rest == "":
			d.objects[row] = true
		case e.Object && c == 0:
			d.objects[row+rest] = false
		case e.Object && c == 1 && strings.HasSuffix(rest, "{i}."):
			d.tables[row+strings.TrimSuffix(rest, "{i}.")] = table{rowPattern: e.Pattern, writable: e.Writable}
		case !e.Object && c == 0:
			v := e.Default
			if !e.HasDefault {
				v = zero(e.Type)
			}
			d.params[row+rest] = &Param{Value: v, Type: cwmp.Type(e.Type), Writable: e.Writable}
		}
	}
	d.recount()
	return &cwmp.AddObjectResponse{InstanceNumber: uint32(n)}
}

func (d *Device) deleteObject(r *cwmp.DeleteObject) cwmp.Body {
	row := r.ObjectName
	deletable, ok := d.objects[row]
	if !ok {
		return badName(row)
	}
	if !deletable {
		return cwmp.NewFault(cwmp.FaultRequestDenied, row+" cannot be deleted")
	}
	for o := range d.objects {
		if strings.HasPrefix(o, row) {
			delete(d.objects, o)
		}
	}
	for t := range d.tables {
		if strings.HasPrefix(t, row) {
			delete(d.tables, t)
		}
	}
	for n := range d.params {
		if strings.HasPrefix(n, row) {
			delete(d.params, n)
		}
	}
	d.recount()
	return &cwmp.DeleteObjectResponse{Status: 0}
}

// diagnose completes a requested diagnostic at once; the device reports it
// in its next session with "8 DIAGNOSTICS COMPLETE". A neighbour scan finds
// a fixed set of networks, so that channel selection has data to work on.
func (d *Device) diagnose(obj string) {
	d.params[obj+"DiagnosticsState"].Value = "Complete"
	d.pending = append(d.pending, cwmp.EventStruct{EventCode: cwmp.EventDiagnosticsComplete})
	if !strings.HasSuffix(obj, "NeighboringWiFiDiagnostic.") {
		return
	}
	tbl := obj + "Result."
	for _, n := range d.rows(tbl) {
		row := tbl + strconv.Itoa(n) + "."
		for name := range d.params {
			if strings.HasPrefix(name, row) {
				delete(d.params, name)
			}
		}
		delete(d.objects, row)
	}
	rowPattern := d.tables[tbl].rowPattern
	for i, nb := range []struct {
		ssid    string
		channel int
		dbm     int
	}{{"neighbour-a", 1, -48}, {"neighbour-b", 1, -62}, {"neighbour-c", 6, -71}, {"neighbour-d", 6, -80}} {
		row := tbl + strconv.Itoa(i+1) + "."
		d.objects[row] = false
		for _, e := range d.model.entries {
			rest, ok := strings.CutPrefix(e.Pattern, rowPattern)
			if !ok || e.Object || strings.Contains(rest, "{i}") {
				continue
			}
			d.params[row+rest] = &Param{Value: zero(e.Type), Type: cwmp.Type(e.Type)}
		}
		set := func(leaf, v string) {
			if p, ok := d.params[row+leaf]; ok {
				p.Value = v
			}
		}
		set("SSID", nb.ssid)
		set("Channel", strconv.Itoa(nb.channel))
		set("SignalStrength", strconv.Itoa(nb.dbm))
		set("OperatingFrequencyBand", "2.4GHz")
	}
	d.recount()
}
