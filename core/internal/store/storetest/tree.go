// Package storetest builds realistic test data for store backends: TR-181
// parameter trees with the names, types and value variety a home gateway
// reports, so that size and speed measurements mean something.
package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// builder collects nodes of one tree.
type builder struct {
	rng *rand.Rand
	at  time.Time
	out []store.Param
}

func (b *builder) obj(name string, writable bool) {
	w := store.WritableNo
	if writable {
		w = store.WritableYes
	}
	b.out = append(b.out, store.Param{Name: name, Writable: w, Object: true})
}

func (b *builder) p(name, typ, value string, writable bool) {
	w := store.WritableNo
	if writable {
		w = store.WritableYes
	}
	b.out = append(b.out, store.Param{Name: name, Value: value, Type: typ, Writable: w, ReadAt: b.at})
}

func (b *builder) str(name, value string, w bool) { b.p(name, "string", value, w) }
func (b *builder) boolean(name string, v, w bool) {
	b.p(name, "boolean", fmt.Sprint(v), w)
}
func (b *builder) uint(name string, v uint64, w bool) {
	b.p(name, "unsignedInt", fmt.Sprint(v), w)
}
func (b *builder) counter(name string, max uint64) {
	b.p(name, "unsignedLong", fmt.Sprint(b.rng.Uint64N(max)), false)
}

func (b *builder) mac() string {
	return fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", 0x48, 0x8F, 0x5A,
		b.rng.IntN(256), b.rng.IntN(256), b.rng.IntN(256))
}

func (b *builder) ip(prefix string) string {
	return fmt.Sprintf("%s.%d", prefix, 2+b.rng.IntN(250))
}

func (b *builder) word(n int) string {
	const letters = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var s strings.Builder
	for range n {
		s.WriteByte(letters[b.rng.IntN(len(letters))])
	}
	return s.String()
}

var hostNames = []string{"android-phone", "iPhone", "DESKTOP-4KQ2", "living-room-tv",
	"printer", "laptop", "raspberrypi", "nest-thermostat", "galaxy-tab", "xbox"}

// Tree returns a TR-181 tree of about 300 nodes for a gateway, sorted,
// with values drawn from seed and read at at. Different seeds give
// different serials, addresses, counters and host tables, as in a real
// fleet where names repeat and values vary.
func Tree(seed uint64, at time.Time) store.ParamTree {
	b := &builder{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), at: store.Millis(at)}
	serial := fmt.Sprintf("HCT%08X", b.rng.Uint32())

	b.obj("Device.", false)
	b.obj("Device.DeviceInfo.", false)
	b.str("Device.DeviceInfo.Manufacturer", "MikroTik", false)
	b.str("Device.DeviceInfo.ManufacturerOUI", "488F5A", false)
	b.str("Device.DeviceInfo.ModelName", "RB4011iGS+", false)
	b.str("Device.DeviceInfo.Description", "RouterOS RB4011iGS+", false)
	b.str("Device.DeviceInfo.ProductClass", "RB4011", false)
	b.str("Device.DeviceInfo.SerialNumber", serial, false)
	b.str("Device.DeviceInfo.HardwareVersion", "r2", false)
	b.str("Device.DeviceInfo.SoftwareVersion", []string{"7.14.3", "7.15.2", "7.16"}[b.rng.IntN(3)], false)
	b.str("Device.DeviceInfo.ProvisioningCode", "", true)
	b.uint("Device.DeviceInfo.UpTime", uint64(b.rng.IntN(3_000_000)), false)
	b.p("Device.DeviceInfo.FirstUseDate", "dateTime", "2023-03-14T09:26:53Z", false)
	b.obj("Device.DeviceInfo.MemoryStatus.", false)
	b.uint("Device.DeviceInfo.MemoryStatus.Total", 1048576, false)
	b.uint("Device.DeviceInfo.MemoryStatus.Free", uint64(400000+b.rng.IntN(500000)), false)
	b.obj("Device.DeviceInfo.ProcessStatus.", false)
	b.uint("Device.DeviceInfo.ProcessStatus.CPUUsage", uint64(b.rng.IntN(100)), false)
	b.uint("Device.DeviceInfo.VendorConfigFileNumberOfEntries", 0, false)

	b.obj("Device.ManagementServer.", false)
	b.str("Device.ManagementServer.URL", "https://acs.example.net:7547/", true)
	b.str("Device.ManagementServer.Username", serial, true)
	b.str("Device.ManagementServer.Password", "", true)
	b.boolean("Device.ManagementServer.PeriodicInformEnable", true, true)
	b.uint("Device.ManagementServer.PeriodicInformInterval", 300, true)
	b.p("Device.ManagementServer.PeriodicInformTime", "dateTime", "0001-01-01T00:00:00Z", true)
	b.str("Device.ManagementServer.ParameterKey", "", false)
	crIP := b.ip("100.64.12")
	b.str("Device.ManagementServer.ConnectionRequestURL", "http://"+crIP+":7547/"+b.word(10), false)
	b.str("Device.ManagementServer.ConnectionRequestUsername", serial, true)
	b.str("Device.ManagementServer.ConnectionRequestPassword", "", true)
	b.boolean("Device.ManagementServer.UpgradesManaged", false, true)

	b.obj("Device.Time.", false)
	b.boolean("Device.Time.Enable", true, true)
	b.str("Device.Time.Status", "Synchronized", false)
	b.str("Device.Time.NTPServer1", "pool.ntp.org", true)
	b.str("Device.Time.NTPServer2", "time.google.com", true)
	b.p("Device.Time.CurrentLocalTime", "dateTime", at.UTC().Format(time.RFC3339), false)
	b.str("Device.Time.LocalTimeZone", "CET-1CEST,M3.5.0,M10.5.0/3", true)

	b.obj("Device.Ethernet.", false)
	b.obj("Device.Ethernet.Interface.", false)
	for i := 1; i <= 5; i++ {
		pre := fmt.Sprintf("Device.Ethernet.Interface.%d.", i)
		up := b.rng.IntN(3) > 0
		b.obj(pre, false)
		b.boolean(pre+"Enable", true, true)
		b.str(pre+"Status", map[bool]string{true: "Up", false: "Down"}[up], false)
		b.str(pre+"Name", fmt.Sprintf("ether%d", i), false)
		b.uint(pre+"LastChange", uint64(b.rng.IntN(1_000_000)), false)
		b.str(pre+"MACAddress", b.mac(), false)
		b.p(pre+"MaxBitRate", "int", "1000", true)
		b.str(pre+"DuplexMode", "Auto", true)
		b.obj(pre+"Stats.", false)
		for _, c := range []string{"BytesSent", "BytesReceived", "PacketsSent", "PacketsReceived"} {
			b.counter(pre+"Stats."+c, 1<<36)
		}
		b.uint(pre+"Stats.ErrorsSent", 0, false)
		b.uint(pre+"Stats.ErrorsReceived", uint64(b.rng.IntN(3)), false)
	}

	b.obj("Device.WiFi.", false)
	b.obj("Device.WiFi.Radio.", false)
	for i := 1; i <= 2; i++ {
		pre := fmt.Sprintf("Device.WiFi.Radio.%d.", i)
		band := []string{"2.4GHz", "5GHz"}[i-1]
		ch := []int{1 + 5*b.rng.IntN(3), 36 + 4*b.rng.IntN(8)}[i-1]
		b.obj(pre, false)
		b.boolean(pre+"Enable", true, true)
		b.str(pre+"Status", "Up", false)
		b.str(pre+"Name", fmt.Sprintf("wlan%d", i), false)
		b.str(pre+"OperatingFrequencyBand", band, true)
		b.str(pre+"SupportedFrequencyBands", band, false)
		b.uint(pre+"Channel", uint64(ch), true)
		b.boolean(pre+"AutoChannelEnable", b.rng.IntN(2) == 0, true)
		b.p(pre+"TransmitPower", "int", "100", true)
		b.str(pre+"OperatingStandards", []string{"b,g,n,ax", "a,n,ac,ax"}[i-1], true)
		b.str(pre+"SupportedStandards", []string{"b,g,n,ax", "a,n,ac,ax"}[i-1], false)
		b.str(pre+"OperatingChannelBandwidth", []string{"20MHz", "80MHz"}[i-1], true)
		b.obj(pre+"Stats.", false)
		b.counter(pre+"Stats.BytesSent", 1<<34)
		b.counter(pre+"Stats.BytesReceived", 1<<34)
		b.p(pre+"Stats.Noise", "int", fmt.Sprint(-90-b.rng.IntN(10)), false)
	}
	b.obj("Device.WiFi.SSID.", true)
	ssidBase := "MikroTik-" + strings.ToUpper(b.word(6))
	for i := 1; i <= 4; i++ {
		pre := fmt.Sprintf("Device.WiFi.SSID.%d.", i)
		b.obj(pre, false)
		b.boolean(pre+"Enable", i <= 2, true)
		b.str(pre+"Status", map[bool]string{true: "Up", false: "Down"}[i <= 2], false)
		b.str(pre+"Name", fmt.Sprintf("wifi%d", i), false)
		b.str(pre+"LowerLayers", fmt.Sprintf("Device.WiFi.Radio.%d.", 1+(i-1)%2), true)
		b.str(pre+"BSSID", b.mac(), false)
		b.str(pre+"MACAddress", b.mac(), false)
		b.str(pre+"SSID", ssidBase+[]string{"", "-5G", "-guest", "-guest-5G"}[i-1], true)
		b.obj(pre+"Stats.", false)
		for _, c := range []string{"BytesSent", "BytesReceived", "PacketsSent", "PacketsReceived"} {
			b.counter(pre+"Stats."+c, 1<<32)
		}
	}
	b.obj("Device.WiFi.AccessPoint.", true)
	for i := 1; i <= 4; i++ {
		pre := fmt.Sprintf("Device.WiFi.AccessPoint.%d.", i)
		b.obj(pre, false)
		b.boolean(pre+"Enable", i <= 2, true)
		b.str(pre+"Status", map[bool]string{true: "Enabled", false: "Disabled"}[i <= 2], false)
		b.str(pre+"SSIDReference", fmt.Sprintf("Device.WiFi.SSID.%d.", i), true)
		b.boolean(pre+"SSIDAdvertisementEnabled", true, true)
		b.uint(pre+"AssociatedDeviceNumberOfEntries", uint64(b.rng.IntN(6)), false)
		b.obj(pre+"Security.", false)
		b.str(pre+"Security.ModesSupported", "None,WPA2-Personal,WPA3-Personal,WPA2-WPA3-Personal", false)
		b.str(pre+"Security.ModeEnabled", "WPA2-WPA3-Personal", true)
		b.str(pre+"Security.KeyPassphrase", "secret-pass-"+b.word(8), true)
	}

	b.obj("Device.IP.", false)
	b.boolean("Device.IP.IPv4Enable", true, true)
	b.boolean("Device.IP.IPv6Enable", b.rng.IntN(2) == 0, true)
	b.obj("Device.IP.Interface.", true)
	for i := 1; i <= 2; i++ {
		pre := fmt.Sprintf("Device.IP.Interface.%d.", i)
		b.obj(pre, false)
		b.boolean(pre+"Enable", true, true)
		b.str(pre+"Status", "Up", false)
		b.str(pre+"Name", []string{"bridge", "ether1"}[i-1], false)
		b.str(pre+"LowerLayers", fmt.Sprintf("Device.Ethernet.Interface.%d.", i), true)
		b.uint(pre+"IPv4AddressNumberOfEntries", 1, false)
		b.obj(pre+"IPv4Address.", true)
		b.obj(pre+"IPv4Address.1.", false)
		b.boolean(pre+"IPv4Address.1.Enable", true, true)
		b.str(pre+"IPv4Address.1.IPAddress", []string{"192.168.88.1", crIP}[i-1], true)
		b.str(pre+"IPv4Address.1.SubnetMask", []string{"255.255.255.0", "255.255.252.0"}[i-1], true)
		b.str(pre+"IPv4Address.1.AddressingType", []string{"Static", "DHCP"}[i-1], false)
		b.obj(pre+"Stats.", false)
		b.counter(pre+"Stats.BytesSent", 1<<36)
		b.counter(pre+"Stats.BytesReceived", 1<<36)
	}

	b.obj("Device.DHCPv4.", false)
	b.obj("Device.DHCPv4.Server.", false)
	b.boolean("Device.DHCPv4.Server.Enable", true, true)
	b.obj("Device.DHCPv4.Server.Pool.", true)
	b.obj("Device.DHCPv4.Server.Pool.1.", false)
	b.boolean("Device.DHCPv4.Server.Pool.1.Enable", true, true)
	b.str("Device.DHCPv4.Server.Pool.1.MinAddress", "192.168.88.10", true)
	b.str("Device.DHCPv4.Server.Pool.1.MaxAddress", "192.168.88.254", true)
	b.str("Device.DHCPv4.Server.Pool.1.SubnetMask", "255.255.255.0", true)
	b.str("Device.DHCPv4.Server.Pool.1.DNSServers", "192.168.88.1", true)
	b.p("Device.DHCPv4.Server.Pool.1.LeaseTime", "int", "86400", true)

	b.obj("Device.Hosts.", false)
	hosts := 4 + b.rng.IntN(8)
	b.uint("Device.Hosts.HostNumberOfEntries", uint64(hosts), false)
	b.obj("Device.Hosts.Host.", false)
	for i := 1; i <= hosts; i++ {
		pre := fmt.Sprintf("Device.Hosts.Host.%d.", i)
		b.obj(pre, false)
		b.str(pre+"PhysAddress", b.mac(), false)
		b.str(pre+"IPAddress", b.ip("192.168.88"), false)
		b.str(pre+"HostName", hostNames[b.rng.IntN(len(hostNames))], false)
		b.boolean(pre+"Active", b.rng.IntN(4) > 0, false)
		b.str(pre+"AddressSource", "DHCP", false)
		b.p(pre+"LeaseTimeRemaining", "int", fmt.Sprint(b.rng.IntN(86400)), false)
		b.str(pre+"Layer1Interface", fmt.Sprintf("Device.WiFi.SSID.%d.", 1+b.rng.IntN(2)), false)
	}

	b.obj("Device.NAT.", false)
	b.obj("Device.NAT.PortMapping.", true)
	for i := 1; i <= 2; i++ {
		pre := fmt.Sprintf("Device.NAT.PortMapping.%d.", i)
		b.obj(pre, false)
		b.boolean(pre+"Enable", true, true)
		b.str(pre+"Interface", "Device.IP.Interface.2.", true)
		b.uint(pre+"ExternalPort", uint64(8000+i), true)
		b.uint(pre+"InternalPort", uint64(80+i), true)
		b.str(pre+"Protocol", "TCP", true)
		b.str(pre+"InternalClient", b.ip("192.168.88"), true)
		b.str(pre+"Description", fmt.Sprintf("fwd-%d", i), true)
	}

	b.obj("Device.X_MIKROTIK_Interface.", false)
	b.obj("Device.X_MIKROTIK_Interface.Generic.", false)
	for i := 1; i <= 5; i++ {
		pre := fmt.Sprintf("Device.X_MIKROTIK_Interface.Generic.%d.", i)
		b.obj(pre, false)
		b.str(pre+"Name", fmt.Sprintf("vlan%d", 10*i), false)
		b.counter(pre+"BytesIn", 1<<34)
		b.counter(pre+"BytesOut", 1<<34)
	}

	slices.SortFunc(b.out, func(x, y store.Param) int { return strings.Compare(x.Name, y.Name) })
	return store.ParamTree(b.out)
}
