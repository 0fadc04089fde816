package sdktest

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/provisor/provisor/sdk"
)

// Device is a simulated device: a parameter tree that answers the RPCs a
// plugin sends, and a record of those RPCs. It is safe for concurrent use.
type Device struct {
	mu     sync.Mutex
	info   sdk.Device
	params map[string]*param
	attrs  map[string]sdk.ParameterAttribute
	rpcs   []RPC
	tags   map[string]bool
	next   map[string]uint32

	// Faults makes the device answer a method ("SetParameterValues") with
	// a fault instead of doing it.
	Faults map[string]*sdk.Fault
	// TransferStatus is the Status Download and Upload answer with: 1 (the
	// default) means a TransferComplete follows; set 0 for done.
	TransferStatus int
	// Methods is the answer to GetRPCMethods.
	Methods []string
}

type param struct {
	value, typ string
	writable   bool
}

// RPC is one call the plugin made on the device. Request holds the call's
// arguments as SDK types: []string for GetParameterValues and
// GetParameterAttributes, []sdk.ParameterValue for SetParameterValues,
// sdk.DownloadRequest, sdk.UploadRequest, and so on.
type RPC struct {
	Method  string
	Request any
	// File is the content behind a Download URL that the harness's file
	// store served.
	File []byte
}

// NewDevice makes a device with the identity and an empty tree under
// "Device.".
func NewDevice(manufacturer, oui, productClass, serial string) *Device {
	return &Device{
		info: sdk.Device{
			ID: oui + "-" + productClass + "-" + serial, Manufacturer: manufacturer, OUI: oui,
			ProductClass: productClass, SerialNumber: serial, Root: "Device.", CWMPVersion: "1.0",
		},
		params: map[string]*param{}, attrs: map[string]sdk.ParameterAttribute{},
		tags: map[string]bool{}, next: map[string]uint32{}, TransferStatus: 1,
		Methods: []string{"GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues",
			"GetParameterAttributes", "SetParameterAttributes", "AddObject", "DeleteObject", "Reboot",
			"FactoryReset", "Download", "Upload", "ScheduleInform"},
	}
}

// Info is the device's identity as a plugin sees it.
func (d *Device) Info() sdk.Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info
}

// SetNew marks the device as new to the ACS (its first session).
func (d *Device) SetNew(b bool) {
	d.mu.Lock()
	d.info.New = b
	d.mu.Unlock()
}

// Set adds or changes a writable string parameter.
func (d *Device) Set(name, value string) { d.SetParam(name, value, "string", true) }

// SetParam adds or changes a parameter with its type and writability.
func (d *Device) SetParam(name, value, typ string, writable bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.params[name] = &param{value: value, typ: typ, writable: writable}
}

// Value returns a parameter's value.
func (d *Device) Value(name string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.params[name]
	if !ok {
		return "", false
	}
	return p.value, true
}

// RPCs returns the calls the plugin made, in order.
func (d *Device) RPCs() []RPC {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.rpcs)
}

// MethodNames returns the method of each call the plugin made, in order.
func (d *Device) MethodNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, len(d.rpcs))
	for i, r := range d.rpcs {
		out[i] = r.Method
	}
	return out
}

// ResetRPCs forgets the recorded calls.
func (d *Device) ResetRPCs() {
	d.mu.Lock()
	d.rpcs = nil
	d.mu.Unlock()
}

// Tags returns the device's tags, sorted.
func (d *Device) Tags() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Sorted(maps.Keys(d.tags))
}

func (d *Device) record(r RPC) *sdk.Fault {
	d.rpcs = append(d.rpcs, r)
	return d.Faults[r.Method]
}

func (d *Device) getValues(names []string) ([]sdk.ParameterValue, *sdk.Fault) {
	var out []sdk.ParameterValue
	for _, n := range names {
		if strings.HasSuffix(n, ".") || n == "" {
			keys := slices.Sorted(maps.Keys(d.params))
			found := false
			for _, k := range keys {
				if strings.HasPrefix(k, n) {
					p := d.params[k]
					out = append(out, sdk.ParameterValue{Name: k, Value: p.value, Type: p.typ})
					found = true
				}
			}
			if !found {
				return nil, &sdk.Fault{Code: 9005, Message: "Invalid parameter name"}
			}
			continue
		}
		p, ok := d.params[n]
		if !ok {
			return nil, &sdk.Fault{Code: 9005, Message: "Invalid parameter name"}
		}
		out = append(out, sdk.ParameterValue{Name: n, Value: p.value, Type: p.typ})
	}
	return out, nil
}

func (d *Device) setValues(vals []sdk.ParameterValue) *sdk.Fault {
	var pf []sdk.ParameterFault
	for _, v := range vals {
		p, ok := d.params[v.Name]
		switch {
		case !ok:
			pf = append(pf, sdk.ParameterFault{Name: v.Name, Code: 9005, Message: "Invalid parameter name"})
		case !p.writable:
			pf = append(pf, sdk.ParameterFault{Name: v.Name, Code: 9008, Message: "Attempt to set a non-writable parameter"})
		}
	}
	if len(pf) > 0 {
		return &sdk.Fault{Code: 9003, Message: "Invalid arguments", ParameterFaults: pf}
	}
	for _, v := range vals {
		p := d.params[v.Name]
		p.value = v.Value
		if v.Type != "" {
			p.typ = v.Type
		}
	}
	return nil
}

// names answers GetParameterNames: the leaves and objects under path, or
// only its children with nextLevel.
func (d *Device) names(path string, nextLevel bool) ([]sdk.ParameterInfo, *sdk.Fault) {
	seen := map[string]bool{}
	var out []sdk.ParameterInfo
	add := func(name string, w bool) {
		if !seen[name] {
			seen[name] = true
			out = append(out, sdk.ParameterInfo{Name: name, Writable: w})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(d.params)) {
		if !strings.HasPrefix(k, path) {
			continue
		}
		if !strings.HasSuffix(path, ".") && path != "" {
			if k == path {
				add(k, d.params[k].writable)
			}
			continue
		}
		rest := k[len(path):]
		parts := strings.Split(rest, ".")
		if nextLevel {
			if len(parts) == 1 {
				add(k, d.params[k].writable)
			} else {
				add(path+parts[0]+".", false)
			}
			continue
		}
		for i := 1; i < len(parts); i++ {
			add(path+strings.Join(parts[:i], ".")+".", false)
		}
		add(k, d.params[k].writable)
	}
	if len(out) == 0 {
		return nil, &sdk.Fault{Code: 9005, Message: "Invalid parameter name"}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *Device) addObject(obj string) (uint32, *sdk.Fault) {
	if !strings.HasSuffix(obj, ".") {
		return 0, &sdk.Fault{Code: 9005, Message: "Invalid parameter name"}
	}
	n := d.next[obj]
	for k := range d.params {
		if rest, ok := strings.CutPrefix(k, obj); ok {
			num, _, _ := strings.Cut(rest, ".")
			if i, err := strconv.ParseUint(num, 10, 32); err == nil && uint32(i) > n {
				n = uint32(i)
			}
		}
	}
	n++
	d.next[obj] = n
	return n, nil
}

func (d *Device) deleteObject(obj string) *sdk.Fault {
	found := false
	for k := range d.params {
		if strings.HasPrefix(k, obj) {
			delete(d.params, k)
			found = true
		}
	}
	if !found {
		return &sdk.Fault{Code: 9005, Message: "Invalid parameter name"}
	}
	return nil
}

func (d *Device) String() string { return fmt.Sprintf("device %s", d.info.ID) }

// informNames are the parameters TR-181 forces into every Inform.
var informNames = []string{
	"Device.RootDataModelVersion", "Device.DeviceInfo.HardwareVersion", "Device.DeviceInfo.SoftwareVersion",
	"Device.DeviceInfo.ProvisioningCode", "Device.ManagementServer.ParameterKey", "Device.ManagementServer.ConnectionRequestURL",
}

func (d *Device) informParameters() []sdk.ParameterValue {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []sdk.ParameterValue
	for _, n := range informNames {
		if p, ok := d.params[n]; ok {
			out = append(out, sdk.ParameterValue{Name: n, Value: p.value, Type: p.typ})
		}
	}
	return out
}
