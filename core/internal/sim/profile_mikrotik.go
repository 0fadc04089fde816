package sim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// MikroTik RouterOS, after the facts collected in the project's CWMP and
// MikroTik reference (Part A): a hAP ac lite on RouterOS 7.13 reporting
// Device:2.15, X_MIKROTIK_ vendor parameters, CWMP 1.0 on the wire, sparse
// instance numbers and vendor enum values.

// FileMikroTikFactoryConfig is RouterOS's vendor file type for the script
// /system reset-configuration applies.
const FileMikroTikFactoryConfig = "X MIKROTIK Factory Configuration File"

const mikrotikText = `
Device.
  RootDataModelVersion = 2.15
  DeviceSummary:string = Device:2.15[](Download:1, DownloadTCP:1, Upload:1, UploadTCP:1, MemoryStatus:1, IPInterface:1, EthernetLink:1, EthernetInterface:1, WiFiRadio:1, WiFiSSID:1, WiFiAccessPoint:1, Hosts:1, DHCPv4Client:1, IPPing:1, TraceRoute:1, InformParameters:1, Baseline:1)
Device.DeviceInfo.
  Manufacturer = ${manufacturer}
  ManufacturerOUI = ${oui}
  ModelName = RB952Ui-5ac2nD
  Description = MikroTik Routers and Wireless, https://mikrotik.com
  ProductClass = ${productclass}
  SerialNumber = ${serial}
  HardwareVersion = r2
  SoftwareVersion = 7.13
  UpTime = ${uptime}
  X_MIKROTIK_SystemIdentity:string:w = MikroTik
  X_MIKROTIK_ArchName:string = mipsbe
  X_MIKROTIK_BrandingPckgBuildTime:dateTime = 0001-01-01T00:00:00Z
  X_MIKROTIK_AutosupoutTime:dateTime = 0001-01-01T00:00:00Z
Device.DeviceInfo.MemoryStatus.
  Total = 65536
  Free = ${gauge:20000:40000}
Device.DeviceInfo.ProcessStatus.
  CPUUsage = ${gauge:0:30}
Device.DeviceInfo.VendorConfigFile.1.
  Name = Current ROS configuration
Device.ManagementServer.
  EnableCWMP = true
  URL = ${acsurl}
  Username = ${acsuser}
  Password = ${acspass}
  PeriodicInformEnable = ${periodic}
  PeriodicInformInterval = ${interval}
  ConnectionRequestURL = ${crurl}
  ConnectionRequestUsername = ${cruser}
  ConnectionRequestPassword = ${crpass}
  AliasBasedAddressing = false
Device.Ethernet.Interface.1.
  Enable = true
  Status = Up
  Name = ether1
  Upstream = true
  MACAddress = ${mac:0}
  MaxBitRate = 100
  CurrentBitRate = 100
  DuplexMode = Full
  X_MIKROTIK_Name:string:w = ether1
  X_MIKROTIK_Comment:string:w = WAN
  X_MIKROTIK_LinkDowns:unsignedInt = 1
Device.Ethernet.Interface.2.
  Enable = true
  Status = Up
  Name = ether2
  MACAddress = ${mac:1}
  MaxBitRate = 100
  CurrentBitRate = 100
  DuplexMode = Full
  X_MIKROTIK_Name = ether2
Device.Ethernet.Interface.3.
  Enable = true
  Status = Down
  Name = ether3
  MACAddress = ${mac:2}
  MaxBitRate = 100
  X_MIKROTIK_Name = ether3
Device.Ethernet.Interface.4.
  Enable = true
  Status = Down
  Name = ether4
  MACAddress = ${mac:3}
  MaxBitRate = 100
  X_MIKROTIK_Name = ether4
Device.Ethernet.Interface.5.
  Enable = true
  Status = Down
  Name = ether5
  MACAddress = ${mac:4}
  MaxBitRate = 100
  X_MIKROTIK_Name = ether5
Device.X_MIKROTIK_Interface.Generic.1.
  Enable:boolean = true
  Status:string = Up
  Name:string = bridge
  LowerLayers:string = Device.Ethernet.Interface.2,Device.Ethernet.Interface.3,Device.Ethernet.Interface.4,Device.Ethernet.Interface.5,Device.WiFi.SSID.1,Device.WiFi.SSID.2
Device.IP.Interface.1.
  Enable = true
  Status = Up
  Name = bridge
  LowerLayers = Device.X_MIKROTIK_Interface.Generic.1
Device.IP.Interface.1.IPv4Address.1.
  Enable = true
  Status = Enabled
  IPAddress = 192.168.88.1
  SubnetMask = 255.255.255.0
  AddressingType = Static
Device.IP.Interface.2.
  Enable = true
  Status = Up
  Name = ether1
  LowerLayers = Device.Ethernet.Interface.1
Device.IP.Interface.2.IPv4Address.3.
  Enable = true
  Status = Enabled
  IPAddress = ${wanip}
  SubnetMask = 255.192.0.0
  AddressingType = X_MIKROTIK_Dynamic
Device.WiFi.Radio.1.
  Enable = true
  Status = Up
  Name = wlan1
  SupportedFrequencyBands = 2.4GHz
  OperatingFrequencyBand = 2.4GHz
  SupportedStandards = b,g,n
  OperatingStandards = b,g,n
  Channel = 2412
  AutoChannelEnable = false
  X_MIKROTIK_SkipDFSChannels:string:w = disabled
Device.WiFi.Radio.2.
  Enable = true
  Status = Up
  Name = wlan2
  SupportedFrequencyBands = 5GHz
  OperatingFrequencyBand = 5GHz
  SupportedStandards = a,n,ac
  OperatingStandards = a,n,ac
  Channel = 5180
  AutoChannelEnable = true
  X_MIKROTIK_SkipDFSChannels = 10min-cac
Device.WiFi.SSID.1.
  Enable = true
  Status = Up
  Name = wlan1
  LowerLayers = Device.WiFi.Radio.1
  MACAddress = ${mac:5}
  BSSID = ${mac:5}
  SSID = ${ssid:1}
Device.WiFi.SSID.2.
  Enable = true
  Status = Up
  Name = wlan2
  LowerLayers = Device.WiFi.Radio.2
  MACAddress = ${mac:6}
  BSSID = ${mac:6}
  SSID = ${ssid:2}
Device.WiFi.AccessPoint.1.
  Enable = true
  Status = Enabled
  SSIDReference = Device.WiFi.SSID.1
  SSIDAdvertisementEnabled = true
  Security.ModesSupported = None,WPA-Personal,WPA2-Personal,WPA-WPA2-Personal,X_MIKROTIK_Specific
  Security.ModeEnabled = WPA2-Personal
  Security.KeyPassphrase = ${wifikey:1}
Device.WiFi.AccessPoint.2.
  Enable = true
  Status = Enabled
  SSIDReference = Device.WiFi.SSID.2
  SSIDAdvertisementEnabled = true
  Security.ModesSupported = None,WPA-Personal,WPA2-Personal,WPA-WPA2-Personal,X_MIKROTIK_Specific
  Security.ModeEnabled = WPA2-Personal
  Security.KeyPassphrase = ${wifikey:2}
Device.DHCPv4.Server.
  Enable = true
Device.DHCPv4.Server.Pool.1.
  Enable = true
  Status = Enabled
  Interface = Device.IP.Interface.1
  MinAddress = 192.168.88.10
  MaxAddress = 192.168.88.254
  SubnetMask = 255.255.255.0
  DNSServers = 192.168.88.1
  IPRouters = 192.168.88.1
  LeaseTime = 600
Device.DHCPv4.Client.1.
  Enable = true
  Status = Enabled
  DHCPStatus = Bound
  Interface = Device.IP.Interface.2
  IPAddress = ${wanip}
  SubnetMask = 255.192.0.0
  IPRouters = ${wangw}
  DNSServers = 100.64.0.1
  DHCPServer = 100.64.0.1
Device.DNS.Client.Server.2.
  Enable = true
  Status = Enabled
  DNSServer = 100.64.0.1
  Type = X_MIKROTIK_Dynamic
Device.Routing.Router.1.IPv4Forwarding.1.
  Enable = true
  Status = Enabled
  DestIPAddress = 192.168.88.0
  DestSubnetMask = 255.255.255.0
  Interface = Device.IP.Interface.1
  Origin = X_MIKROTIK_Connect
  StaticRoute = false
Device.Hosts.Host.153.
  PhysAddress = ${hostmac:1}
  IPAddress = 192.168.88.253
  HostName = android-phone
  Active = true
  Layer3Interface = Device.IP.Interface.1
Device.Firewall.X_MIKROTIK_Filter.Chain.1. +w
  Enable:boolean:w = true
  Name:string:w = input
Device.Firewall.X_MIKROTIK_Filter.Chain.1.Rule.1. +w
  Enable:boolean:w = true
  Order:unsignedInt:w = 1
  Description:string:w = drop all from WAN
  Target:string:w = Drop
  TargetChain:string:w =
  Log:boolean:w = false
  SourceInterface:string:w = Device.IP.Interface.2
  SourceInterfaceExclude:boolean:w = false
  DestInterface:string:w =
  SourceIPRange:string:w =
  DestIPRange:string:w =
  Protocol:string:w =
  DestPortList:string:w =
  ConnState:string:w =
Device.Firewall.X_MIKROTIK_NAT.Chain.1. +w
  Enable:boolean:w = true
  Name:string:w = srcnat
Device.Firewall.X_MIKROTIK_NAT.Chain.1.Rule.1. +w
  Enable:boolean:w = true
  Order:unsignedInt:w = 1
  Description:string:w = masquerade
  Target:string:w = Masquerade
  SourceInterface:string:w =
  DestInterface:string:w = Device.IP.Interface.2
  Protocol:string:w =
  ToAddresses:string:w =
  ToPorts:string:w =
Device.Firewall.X_MIKROTIK_ConnTrack.
  TotalEntries:unsignedInt = ${gauge:10:400}
Device.X_MIKROTIK_Monitor.Traffic.1. +w
  Enable:boolean:w = true
  Interface:string:w = Device.Ethernet.Interface.1
  RxRate:unsignedInt = 4294967295
  TxRate:unsignedInt = 4294967295
  MaxRxRate:unsignedInt = 4294967295
  MaxTxRate:unsignedInt = 4294967295
`

// mikrotikDenyActive lists what RouterOS flags deny-active-notif: values
// that change all the time.
func mikrotikDenyActive(name string) bool {
	for _, s := range []string{".Stats.", "X_MIKROTIK_Monitor.", "X_MIKROTIK_ConnTrack.", "MemoryStatus.", "ProcessStatus."} {
		if strings.Contains(name, s) {
			return true
		}
	}
	for _, s := range []string{".UpTime", ".ModelName", ".Description", ".ParameterKey", ".CurrentLocalTime", "LinkDowns"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

func buildMikroTik() (*Profile, error) {
	p := &Profile{
		Name: "mikrotik", Root: "Device.", Manufacturer: "MikroTik", OUI: "E48D8C", ProductClass: "hAP ac lite",
		SerialPattern: "%012X", Namespace: cwmp.NS10, UserAgent: "MikroTik",
		Quirks: Quirks{
			NoInformHeader: true, EncodingMustUnderstand: true, RouterOSStyle: true,
			CountersAsUnsignedInt: true, BareBatch9005: true, AbandonAfterConfigDownload: true,
		},
		Methods: []string{
			"GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues",
			"GetParameterAttributes", "SetParameterAttributes", "AddObject", "DeleteObject",
			"Reboot", "FactoryReset", "Download", "Upload", "ScheduleInform",
		},
		InformParams: []string{
			"Device.RootDataModelVersion",
			"Device.DeviceInfo.HardwareVersion",
			"Device.DeviceInfo.SoftwareVersion",
			"Device.DeviceInfo.ProvisioningCode",
			"Device.ManagementServer.ParameterKey",
			"Device.ManagementServer.ConnectionRequestURL",
			"Device.ManagementServer.AliasBasedAddressing",
		},
		RandomCRPath: true, CRRealm: "MikroTik",
		FileTypes:   []string{cwmp.FileFirmware, cwmp.FileVendorConfig, FileMikroTikFactoryConfig},
		UploadTypes: []string{cwmp.FileUploadVendorConfig, cwmp.FileUploadVendorLog, FileMikroTikFactoryConfig},
		vendor:      routerOSFiles{},
		denyActive:  mikrotikDenyActive,
	}
	b := newBuilder(p, "Device")
	b.forced = []string{"Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.ProvisioningCode", "Device.ManagementServer.ConnectionRequestURL"}
	return b.build(mikrotikText)
}

// routerOSFiles is what RouterOS does with files (reference A.8):
// firmware URLs point at an XML descriptor listing .npk packages; a
// configuration whose name ends in .alter runs as a script; any other
// configuration replaces everything and reboots into a bootstrap.
type routerOSFiles struct{}

type upgradeDescriptor struct {
	XMLName xml.Name `xml:"upgrade"`
	Version string   `xml:"version,attr"`
	Type    string   `xml:"type,attr"`
	Links   []string `xml:"links>link>url"`
}

var npkVersion = regexp.MustCompile(`routeros-(?:[a-z0-9]+-)?([0-9]+\.[0-9]+(?:\.[0-9]+)?(?:(?:rc|beta)[0-9]+)?)(?:-[a-z0-9]+)?\.npk$`)

func (routerOSFiles) fetch(d *Device, r *cwmp.Download) ([]byte, cwmp.FaultStruct) {
	body, f := d.fetch(r.URL, r.Username, r.Password, maxFile)
	if !f.OK() || r.FileType != cwmp.FileFirmware {
		return body, f
	}
	var desc upgradeDescriptor
	if err := xml.Unmarshal(body, &desc); err != nil || len(desc.Links) == 0 {
		return nil, transferFault(cwmp.FaultFileCorrupted, "not an upgrade descriptor")
	}
	version := ""
	for _, link := range desc.Links {
		link = strings.TrimSpace(link)
		if _, f := d.fetch(link, r.Username, r.Password, maxFile); !f.OK() {
			return nil, f
		}
		if m := npkVersion.FindStringSubmatch(path.Base(link)); m != nil && version == "" {
			version = m[1]
		}
	}
	return []byte(version), cwmp.FaultStruct{}
}

func (routerOSFiles) download(d *Device, r *cwmp.Download, body []byte) (transferEffect, cwmp.FaultStruct) {
	switch r.FileType {
	case cwmp.FileFirmware:
		return transferEffect{reboot: true, version: string(body)}, cwmp.FaultStruct{}
	case cwmp.FileVendorConfig:
		if isAlter(r) {
			return transferEffect{values: runAlter(d, body)}, cwmp.FaultStruct{}
		}
		return transferEffect{reboot: true, bootstrap: true}, cwmp.FaultStruct{}
	case FileMikroTikFactoryConfig:
		return transferEffect{}, cwmp.FaultStruct{}
	}
	return transferEffect{}, transferFault(cwmp.FaultDownloadFailure, "unsupported file type")
}

// runAlter runs the few RouterOS commands whose effect the tree shows.
func runAlter(d *Device, script []byte) map[string]string {
	vals := map[string]string{}
	for line := range strings.SplitSeq(string(script), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "/system identity set name="); ok {
			vals["Device.DeviceInfo.X_MIKROTIK_SystemIdentity"] = strings.Trim(v, `"`)
		}
	}
	return vals
}

func (routerOSFiles) upload(d *Device, fileType string) ([]byte, bool) {
	var b bytes.Buffer
	now := time.Now().UTC()
	switch fileType {
	case cwmp.FileUploadVendorConfig:
		fmt.Fprintf(&b, "# %s by RouterOS %s\n# software id = %s\n#\n# model = %s\n# serial number = %s\n",
			now.Format("2006-01-02 15:04:05"), d.raw("Device.DeviceInfo.SoftwareVersion"), d.token[:9],
			d.raw("Device.DeviceInfo.ModelName"), d.serial)
		fmt.Fprintf(&b, "/interface bridge\nadd name=bridge\n/ip address\nadd address=192.168.88.1/24 interface=bridge\n")
		fmt.Fprintf(&b, "/system identity\nset name=%s\n", d.raw("Device.DeviceInfo.X_MIKROTIK_SystemIdentity"))
		return b.Bytes(), true
	case cwmp.FileUploadVendorLog:
		fmt.Fprintf(&b, "%s system,info router rebooted\n%s system,info,account user admin logged in via tr069\n",
			d.bootAt.UTC().Format("15:04:05"), now.Format("15:04:05"))
		return b.Bytes(), true
	case FileMikroTikFactoryConfig:
		fmt.Fprintf(&b, "# default configuration\n/interface bridge add name=bridge\n")
		return b.Bytes(), true
	}
	return nil, false
}
