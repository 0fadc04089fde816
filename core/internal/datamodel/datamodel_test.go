package datamodel

import (
	"slices"
	"strings"
	"testing"
)

const (
	tr181 = "Device:2.15"
	tr098 = "InternetGatewayDevice:1.14"
)

func TestLookupKnown(t *testing.T) {
	tests := []struct {
		path string
		want Param
	}{
		{"Device.ManagementServer.PeriodicInformInterval", Param{Pattern: "Device.ManagementServer.PeriodicInformInterval", Model: tr181, Type: TypeUnsignedInt, Writable: true}},
		{"Device.DeviceInfo.SoftwareVersion", Param{Pattern: "Device.DeviceInfo.SoftwareVersion", Model: tr181, Type: TypeString}},
		{"Device.DeviceInfo.UpTime", Param{Pattern: "Device.DeviceInfo.UpTime", Model: tr181, Type: TypeUnsignedInt}},
		// StatsCounter64 resolves through a named type.
		{"Device.Ethernet.Interface.1.Stats.BytesSent", Param{Pattern: "Device.Ethernet.Interface.{i}.Stats.BytesSent", Model: tr181, Type: TypeUnsignedLong}},
		{"InternetGatewayDevice.LANDevice.1.WLANConfiguration.2.Enable", Param{Pattern: "InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.Enable", Model: tr098, Type: TypeBoolean, Writable: true}},
		{"InternetGatewayDevice.LANDevice.1.WLANConfiguration.2.SSID", Param{Pattern: "InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.SSID", Model: tr098, Type: TypeString, Writable: true}},
		{"Device.WiFi.SSID.12.", Param{Pattern: "Device.WiFi.SSID.{i}.", Model: tr181, Writable: true, Object: true}},
		{"Device.WiFi.SSID.12.SSID", Param{Pattern: "Device.WiFi.SSID.{i}.SSID", Model: tr181, Type: TypeString, Writable: true}},
		// The table itself, as AddObject names it.
		{"Device.WiFi.SSID.", Param{Pattern: "Device.WiFi.SSID.{i}.", Model: tr181, Writable: true, Object: true}},
		// Fixed rows: the CPE owns them.
		{"Device.Ethernet.Interface.3.", Param{Pattern: "Device.Ethernet.Interface.{i}.", Model: tr181, Object: true}},
		{"Device.", Param{Pattern: "Device.", Model: tr181, Object: true}},
		{"InternetGatewayDevice.", Param{Pattern: "InternetGatewayDevice.", Model: tr098, Object: true}},
		{"Device.DeviceInfo.", Param{Pattern: "Device.DeviceInfo.", Model: tr181, Object: true}},
		// Patterns pass through unchanged.
		{"Device.WiFi.SSID.{i}.Enable", Param{Pattern: "Device.WiFi.SSID.{i}.Enable", Model: tr181, Type: TypeBoolean, Writable: true, Default: "false", HasDefault: true}},
		// Instance aliases (TR-069 Appendix II), including one with a dot.
		{"Device.WiFi.SSID.[cpe-1].SSID", Param{Pattern: "Device.WiFi.SSID.{i}.SSID", Model: tr181, Type: TypeString, Writable: true}},
		{"Device.WiFi.AccessPoint.[ap.main].AssociatedDevice.7.MACAddress", Param{Pattern: "Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.MACAddress", Model: tr181, Type: TypeString}},
		{"Device.WiFi.SSID.[cpe-1].", Param{Pattern: "Device.WiFi.SSID.{i}.", Model: tr181, Writable: true, Object: true}},
		// Named types: IPAddress and list-valued parameters are strings.
		{"Device.IP.Interface.1.IPv4Address.1.IPAddress", Param{Pattern: "Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress", Model: tr181, Type: TypeString, Writable: true}},
		{"Device.DeviceInfo.DeviceCategory", Param{Pattern: "Device.DeviceInfo.DeviceCategory", Model: tr181, Type: TypeString}},
		{"InternetGatewayDevice.DeviceInfo.UpTime", Param{Pattern: "InternetGatewayDevice.DeviceInfo.UpTime", Model: tr098, Type: TypeUnsignedInt}},
		// Defaults, including an empty one and one that needs quoting.
		{"Device.ManagementServer.EnableCWMP", Param{Pattern: "Device.ManagementServer.EnableCWMP", Model: tr181, Type: TypeBoolean, Writable: true, Default: "true", HasDefault: true}},
		{"Device.Bridging.Filter.4.DestPort", Param{Pattern: "Device.Bridging.Filter.{i}.DestPort", Model: tr181, Type: TypeInt, Writable: true, Default: "-1", HasDefault: true}},
		{"Device.Bridging.Filter.4.Bridge", Param{Pattern: "Device.Bridging.Filter.{i}.Bridge", Model: tr181, Type: TypeString, Writable: true, HasDefault: true}},
		{"Device.BulkData.Profile.1.CSVEncoding.EscapeCharacter", Param{Pattern: "Device.BulkData.Profile.{i}.CSVEncoding.EscapeCharacter", Model: tr181, Type: TypeString, Writable: true, Default: `"`, HasDefault: true}},
		{"Device.DHCPv6.Server.Pool.1.Client.2.IPv6Address.3.ValidLifetime", Param{Pattern: "Device.DHCPv6.Server.Pool.{i}.Client.{i}.IPv6Address.{i}.ValidLifetime", Model: tr181, Type: TypeDateTime}},
		// Types beyond the common ones.
		{"Device.IP.Diagnostics.IPLayerCapacityMetrics.MaxIPLayerCapacity", Param{Pattern: "Device.IP.Diagnostics.IPLayerCapacityMetrics.MaxIPLayerCapacity", Model: tr181, Type: TypeDecimal}},
		{"Device.Optical.Interface.1.OpticalSignalLevel", Param{Pattern: "Device.Optical.Interface.{i}.OpticalSignalLevel", Model: tr181, Type: TypeInt}},
		// Deprecated items stay.
		{"Device.WiFi.MultiAP.APDevice.1.Radio.1.AP.1.", Param{Pattern: "Device.WiFi.MultiAP.APDevice.{i}.Radio.{i}.AP.{i}.", Model: tr181, Object: true}},
		// TR-098 spells this name with a trailing blank; it is trimmed.
		{"InternetGatewayDevice.UPnP.Device.UPnPQoSDevice", Param{Pattern: "InternetGatewayDevice.UPnP.Device.UPnPQoSDevice", Model: tr098, Type: TypeBoolean, Writable: true}},
		// writeOnceReadOnly: the first write must be allowed.
		{"Device.Routing.Babel.MACKeySet.1.MACKey.2.KeyValue", Param{Pattern: "Device.Routing.Babel.MACKeySet.{i}.MACKey.{i}.KeyValue", Model: tr181, Type: TypeHexBinary, Writable: true}},
	}
	// An alias long enough to overflow the stack buffer still resolves.
	tests = append(tests, struct {
		path string
		want Param
	}{"Device.WiFi.SSID.[" + strings.Repeat("a", 300) + "].SSID", Param{Pattern: "Device.WiFi.SSID.{i}.SSID", Model: tr181, Type: TypeString, Writable: true}})
	for _, tt := range tests {
		got, ok := Lookup(tt.path)
		if !ok {
			t.Errorf("Lookup(%q): not found", tt.path)
			continue
		}
		if got != tt.want {
			t.Errorf("Lookup(%q)\n got %+v\nwant %+v", tt.path, got, tt.want)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, path := range []string{
		"",
		".",
		"Device",
		"device.DeviceInfo.UpTime",
		"Device.DeviceInfo.UpTime.",
		"Device.DeviceInfo.Uptime",
		"Device.DeviceInfo.1.UpTime",
		"Device..DeviceInfo.UpTime",
		"Device.WiFi.SSID.1",
		"Device.WiFi.SSID.-1.SSID",
		"Device.WiFi.SSIDS.",
		"Device.X_MIKROTIK_Interface.1.Name",
		"Device.DeviceInfo.X_ACME_Serial",
		"InternetGatewayDevice.X_HUAWEI_Foo.",
		"Device.WiFi.SSID.1.X_ACME_Hidden",
		"Device.DeviceInfo.UpTime.{i}.",
		// Obsoleted in TR-098; deleted in TR-181.
		"InternetGatewayDevice.WANDevice.1.WANDSLConnectionManagement.",
		"Device.PPP.Interface.1.PPPoA.",
		// Malformed alias references.
		"Device.WiFi.SSID.[].SSID",
		"Device.WiFi.SSID.[cpe-1.SSID",
		"Device.WiFi.SSID.[cpe-1]x.SSID",
		// Models do not mix.
		"Device.LANDevice.1.WLANConfiguration.1.SSID",
		"InternetGatewayDevice.WiFi.SSID.1.SSID",
		// Longer than Lookup's stack buffer.
		"Device." + strings.Repeat("Interface.1.", 40),
	} {
		if p, ok := Lookup(path); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", path, p)
		}
	}
}

func TestTypeOf(t *testing.T) {
	tests := []struct {
		path string
		want Type
		ok   bool
	}{
		{"Device.ManagementServer.PeriodicInformTime", TypeDateTime, true},
		{"Device.DeviceInfo.VendorConfigFile.1.Date", TypeDateTime, true},
		{"Device.Ethernet.Interface.1.Stats.ErrorsSent", TypeUnsignedInt, true},
		{"InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress", TypeString, true},
		{"Device.WiFi.SSID.1.", "", false},
		{"Device.X_ACME.Foo", "", false},
	}
	for _, tt := range tests {
		got, ok := TypeOf(tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("TypeOf(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAll(t *testing.T) {
	all := All()
	if len(all) != tableEntries {
		t.Fatalf("All() has %d entries, generated table says %d", len(all), tableEntries)
	}
	if !slices.IsSortedFunc(all, func(a, b Param) int { return strings.Compare(a.Pattern, b.Pattern) }) {
		t.Error("All() is not sorted by Pattern")
	}
	valid := map[Type]bool{
		TypeString: true, TypeInt: true, TypeUnsignedInt: true, TypeLong: true, TypeUnsignedLong: true,
		TypeBoolean: true, TypeDateTime: true, TypeBase64: true, TypeHexBinary: true, TypeDecimal: true,
	}
	perModel := map[string]int{}
	for _, p := range all {
		perModel[p.Model]++
		root := strings.SplitN(p.Pattern, ".", 2)[0]
		if want := map[string]string{"Device": tr181, "InternetGatewayDevice": tr098}[root]; p.Model != want {
			t.Errorf("%s: model %q, want %q", p.Pattern, p.Model, want)
		}
		if p.Object != strings.HasSuffix(p.Pattern, ".") {
			t.Errorf("%s: Object=%v disagrees with the pattern", p.Pattern, p.Object)
		}
		if p.Object && (p.Type != "" || p.HasDefault) {
			t.Errorf("%s: object with type %q / default", p.Pattern, p.Type)
		}
		if !p.Object && !valid[p.Type] {
			t.Errorf("%s: type %q", p.Pattern, p.Type)
		}
		if p.Object && p.Writable && !strings.HasSuffix(p.Pattern, ".{i}.") {
			t.Errorf("%s: writable object that is not a table row", p.Pattern)
		}
		if strings.Contains(p.Pattern, "X_") {
			t.Errorf("%s: vendor name in a standard model", p.Pattern)
		}
		if got, ok := Lookup(p.Pattern); !ok || got != p {
			t.Errorf("Lookup(%q) = %+v, %v; want the All() entry", p.Pattern, got, ok)
		}
	}
	// Hand counts from the model files: objects plus parameters, less the
	// obsoleted/deleted ones.
	if perModel[tr181] != 668+5437 || perModel[tr098] != 190+1784 {
		t.Errorf("entries per model = %v", perModel)
	}

	all[0].Pattern = "changed"
	if All()[0].Pattern == "changed" {
		t.Error("All() shares its backing array with the index")
	}
}

func TestParseTableRejects(t *testing.T) {
	for _, text := range []string{
		"Device.\tor\n",                          // object before any model
		"@M\n\tName\tsw\n",                       // parameter before any object
		"@M\nDevice\tor\n",                       // object path without the dot
		"@M\nDevice.\tsr\n",                      // object with a type
		"@M\nDevice.\tor\n\tName\tzw\n",          // unknown type code
		"@M\nDevice.\tor\n\tName\ts\n",           // missing flag
		"@M\nDevice.\tor\n\tName\tsw\tdefault\n", // default without '='
		"@M\nDevice.\tor\n\tName\tsw\t=\"open\n", // bad quoting
		"@M\nDevice.\tor\n\tName\tsw\n\tName\tsr\n",
	} {
		if _, err := parseTable(text, 0, 0); err == nil {
			t.Errorf("parseTable(%q) succeeded, want an error", text)
		}
	}
	idx, err := parseTable("@M\nA.\tor\n\tQ\tsw\t=\"a\\tb\"\n\tP\tbr\nA.B.{i}.\tow\n", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{
		{Pattern: "A.", Model: "M", Object: true},
		{Pattern: "A.B.{i}.", Model: "M", Object: true, Writable: true},
		{Pattern: "A.P", Model: "M", Type: TypeBoolean},
		{Pattern: "A.Q", Model: "M", Type: TypeString, Writable: true, Default: "a\tb", HasDefault: true},
	}
	if !slices.Equal(idx.sorted(), want) {
		t.Errorf("parseTable:\n got %+v\nwant %+v", idx.sorted(), want)
	}
}

var benchPaths = []string{
	"Device.ManagementServer.PeriodicInformInterval",
	"Device.DeviceInfo.SoftwareVersion",
	"Device.Ethernet.Interface.1.Stats.BytesSent",
	"Device.WiFi.AccessPoint.2.AssociatedDevice.14.Stats.RetransCount",
	"Device.IP.Interface.1.IPv4Address.1.IPAddress",
	"InternetGatewayDevice.LANDevice.1.WLANConfiguration.2.Enable",
	"InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.ExternalIPAddress",
	"Device.WiFi.SSID.[cpe-1].SSID",
	"Device.WiFi.SSID.",
	"Device.X_MIKROTIK_Interface.1.Name",
}

func TestLookupDoesNotAllocate(t *testing.T) {
	Lookup("Device.") // build the index outside the measurement
	for _, path := range benchPaths {
		if n := testing.AllocsPerRun(100, func() { Lookup(path) }); n != 0 {
			t.Errorf("Lookup(%q) allocates %v times", path, n)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	Lookup("Device.")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Lookup(benchPaths[i%len(benchPaths)])
		i++
	}
}

// BenchmarkBuild measures what the first Lookup pays.
func BenchmarkBuild(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseTable(table, tableEntries, tableParamPatternBytes); err != nil {
			b.Fatal(err)
		}
	}
}
