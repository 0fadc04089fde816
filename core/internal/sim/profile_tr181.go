package sim

import "github.com/provisor/provisor/core/cwmp"

// allMethods are the RPCs a CWMP 1.4 CPE can answer.
var allMethods = []string{
	"GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues",
	"GetParameterAttributes", "SetParameterAttributes", "AddObject", "DeleteObject",
	"Reboot", "FactoryReset", "Download", "Upload", "ScheduleInform",
	"GetQueuedTransfers", "GetAllQueuedTransfers", "ScheduleDownload", "CancelTransfer", "ChangeDUState",
}

var standardFileTypes = []string{cwmp.FileFirmware, cwmp.FileWebContent, cwmp.FileVendorConfig, cwmp.FileToneFile, cwmp.FileRingerFile}

var standardUploadTypes = []string{cwmp.FileUploadVendorConfig, cwmp.FileUploadVendorLog, cwmp.FileUploadConfigPrefix, cwmp.FileUploadLogFilePrefix}

// tr181Text is a home router on TR-181 Device:2.15: one WAN and two LAN
// Ethernet ports, a LAN bridge, dual-band Wi-Fi, a DHCP server, a few LAN
// hosts, two port mappings, and one software module.
const tr181Text = `
Device.
  RootDataModelVersion = 2.15
Device.DeviceInfo.
  Manufacturer = ${manufacturer}
  ManufacturerOUI = ${oui}
  ModelName = PX-1000
  ModelNumber = PX-1000-EU
  Description = Provisor simulated home router
  ProductClass = ${productclass}
  SerialNumber = ${serial}
  HardwareVersion = rev.B
  SoftwareVersion = 2.4.1
  UpTime !deny = ${uptime}
  FirstUseDate = 2024-03-01T08:00:00Z
  DeviceCategory = router
Device.DeviceInfo.MemoryStatus.
  Total = 262144
  Free !deny = ${gauge:60000:180000}
Device.DeviceInfo.ProcessStatus.
  CPUUsage !deny = ${gauge:1:60}
Device.DeviceInfo.VendorConfigFile.1.
  Name = running-config
  Description = Current configuration
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
  CWMPRetryMinimumWaitInterval = ${retrymin}
  CWMPRetryIntervalMultiplier = ${retrymul}
  SupportedConnReqMethods = HTTP
  HTTPConnectionRequestEnable = true
  HTTPCompressionSupported = GZIP
Device.Time.
  Enable = true
  Status = Synchronized
  NTPServer1 = pool.ntp.org
  CurrentLocalTime = ${now}
  LocalTimeZone = CET-1CEST,M3.5.0,M10.5.0/3
Device.UserInterface.
  PasswordRequired = true
  PasswordUserSelectable = true
Device.UserInterface.RemoteAccess.
  Enable = false
  Port = 8443
  SupportedProtocols = HTTPS
  Protocol = HTTPS
Device.Ethernet.Interface.1.
  Enable = true
  Status = Up
  Name = wan
  Upstream = true
  MACAddress = ${mac:0}
  MaxBitRate = 1000
  CurrentBitRate = 1000
  DuplexMode = Full
Device.Ethernet.Interface.2.
  Enable = true
  Status = Up
  Name = lan1
  MACAddress = ${mac:1}
  MaxBitRate = 1000
  CurrentBitRate = 1000
  DuplexMode = Full
Device.Ethernet.Interface.3.
  Enable = true
  Status = Down
  Name = lan2
  MACAddress = ${mac:2}
  MaxBitRate = 1000
  DuplexMode = Auto
Device.Ethernet.Link.1.
  Enable = true
  Status = Up
  Name = wan
  LowerLayers = Device.Ethernet.Interface.1
  MACAddress = ${mac:0}
Device.Ethernet.Link.2.
  Enable = true
  Status = Up
  Name = br-lan
  LowerLayers = Device.Ethernet.Interface.2,Device.Ethernet.Interface.3,Device.WiFi.SSID.1,Device.WiFi.SSID.2
  MACAddress = ${mac:4}
Device.IP.
  IPv4Capable = true
  IPv4Enable = true
  IPv4Status = Enabled
Device.IP.Interface.1.
  Enable = true
  Status = Up
  Name = wan
  LowerLayers = Device.Ethernet.Link.1
  IPv4Enable = true
  MaxMTUSize = 1500
Device.IP.Interface.1.IPv4Address.1.
  Enable = true
  Status = Enabled
  IPAddress = ${wanip}
  SubnetMask = 255.192.0.0
  AddressingType = DHCP
Device.IP.Interface.2.
  Enable = true
  Status = Up
  Name = lan
  LowerLayers = Device.Ethernet.Link.2
  IPv4Enable = true
  MaxMTUSize = 1500
Device.IP.Interface.2.IPv4Address.1.
  Enable = true
  Status = Enabled
  IPAddress = 192.168.1.1
  SubnetMask = 255.255.255.0
  AddressingType = Static
Device.WiFi.Radio.1.
  Enable = true
  Status = Up
  Name = wlan0
  Upstream = false
  MaxBitRate = 300
  SupportedFrequencyBands = 2.4GHz
  OperatingFrequencyBand = 2.4GHz
  SupportedStandards = b,g,n,ax
  OperatingStandards = b,g,n,ax
  PossibleChannels = 1-13
  Channel = 6
  AutoChannelSupported = true
  AutoChannelEnable = true
  SupportedOperatingChannelBandwidths = 20MHz,40MHz
  OperatingChannelBandwidth = 20MHz
  CurrentOperatingChannelBandwidth = 20MHz
  TransmitPowerSupported = 25,50,75,100
  TransmitPower = 100
  RegulatoryDomain = DE 
  MaxSupportedSSIDs = 4
  MaxSupportedAssociations = 32
Device.WiFi.Radio.2.
  Enable = true
  Status = Up
  Name = wlan1
  MaxBitRate = 1200
  SupportedFrequencyBands = 5GHz
  OperatingFrequencyBand = 5GHz
  SupportedStandards = a,n,ac,ax
  OperatingStandards = a,n,ac,ax
  PossibleChannels = 36,40,44,48,52,56,60,64,100,104,108,112
  Channel = 36
  AutoChannelSupported = true
  AutoChannelEnable = true
  SupportedOperatingChannelBandwidths = 20MHz,40MHz,80MHz
  OperatingChannelBandwidth = 80MHz
  CurrentOperatingChannelBandwidth = 80MHz
  TransmitPowerSupported = 25,50,75,100
  TransmitPower = 100
  RegulatoryDomain = DE 
  IEEE80211hSupported = true
  IEEE80211hEnabled = true
  MaxSupportedSSIDs = 4
  MaxSupportedAssociations = 64
Device.WiFi.SSID.1.
  Enable = true
  Status = Up
  Name = wlan0
  LowerLayers = Device.WiFi.Radio.1
  BSSID = ${mac:8}
  MACAddress = ${mac:8}
  SSID = ${ssid:1}
Device.WiFi.SSID.2.
  Enable = true
  Status = Up
  Name = wlan1
  LowerLayers = Device.WiFi.Radio.2
  BSSID = ${mac:9}
  MACAddress = ${mac:9}
  SSID = ${ssid:2}
Device.WiFi.AccessPoint.1.
  Enable = true
  Status = Enabled
  SSIDReference = Device.WiFi.SSID.1
  SSIDAdvertisementEnabled = true
  WMMCapability = true
  WMMEnable = true
  MaxAllowedAssociations = 32
  Security.ModesSupported = None,WPA2-Personal,WPA3-Personal,WPA2-WPA3-Personal
  Security.ModeEnabled = WPA2-Personal
  Security.KeyPassphrase = ${wifikey:1}
  WPS.Enable = false
Device.WiFi.AccessPoint.2.
  Enable = true
  Status = Enabled
  SSIDReference = Device.WiFi.SSID.2
  SSIDAdvertisementEnabled = true
  WMMCapability = true
  WMMEnable = true
  MaxAllowedAssociations = 64
  Security.ModesSupported = None,WPA2-Personal,WPA3-Personal,WPA2-WPA3-Personal
  Security.ModeEnabled = WPA2-WPA3-Personal
  Security.KeyPassphrase = ${wifikey:2}
  WPS.Enable = false
Device.DHCPv4.Server.
  Enable = true
Device.DHCPv4.Server.Pool.1.
  Enable = true
  Status = Enabled
  Interface = Device.IP.Interface.2
  MinAddress = 192.168.1.100
  MaxAddress = 192.168.1.249
  SubnetMask = 255.255.255.0
  DNSServers = 192.168.1.1
  DomainName = lan
  IPRouters = 192.168.1.1
  LeaseTime = 86400
Device.Hosts.Host.1.
  PhysAddress = ${hostmac:1}
  IPAddress = ${hostip:1}
  HostName = laptop
  Active = true
  Layer1Interface = Device.WiFi.SSID.1
  Layer3Interface = Device.IP.Interface.2
  InterfaceType = Wi-Fi
Device.Hosts.Host.2.
  PhysAddress = ${hostmac:2}
  IPAddress = ${hostip:2}
  HostName = tv
  Active = true
  Layer1Interface = Device.Ethernet.Interface.2
  Layer3Interface = Device.IP.Interface.2
  InterfaceType = Ethernet
Device.Hosts.Host.5.
  PhysAddress = ${hostmac:5}
  IPAddress = ${hostip:5}
  HostName = phone
  Active = false
  Layer1Interface = Device.WiFi.SSID.2
  Layer3Interface = Device.IP.Interface.2
  InterfaceType = Wi-Fi
Device.NAT.InterfaceSetting.1.
  Enable = true
  Status = Enabled
  Interface = Device.IP.Interface.1
Device.NAT.PortMapping.1.
  Enable = true
  Status = Enabled
  Interface = Device.IP.Interface.1
  Description = nas-web
  Protocol = TCP
  ExternalPort = 8080
  InternalPort = 80
  InternalClient = 192.168.1.101
Device.NAT.PortMapping.2.
  Enable = false
  Status = Disabled
  Interface = Device.IP.Interface.1
  Description = game
  Protocol = UDP
  ExternalPort = 3074
  InternalPort = 3074
  InternalClient = 192.168.1.102
Device.DNS.Client.
  Enable = true
  Status = Enabled
Device.DNS.Client.Server.1.
  Enable = true
  Status = Enabled
  DNSServer = 100.64.0.1
  Interface = Device.IP.Interface.1
  Type = DHCPv4
Device.SoftwareModules.ExecEnv.1.
  Enable = true
  Status = Up
  Name = default
  Type = Linux
  Vendor = Provisor Labs
  Version = 5.15
Device.SoftwareModules.DeploymentUnit.1.
  UUID = 1b4e28ba-2fa1-41d2-883f-0016d3cca427
  DUID = 1
  Name = base-services
  Status = Installed
  Resolved = true
  URL = http://packages.invalid/base-services.ipk
  Vendor = Provisor Labs
  Version = 1.0
  ExecutionEnvRef = Device.SoftwareModules.ExecEnv.1
`

func buildTR181() (*Profile, error) {
	p := &Profile{
		Name: "tr181", Root: "Device.", Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "PX-1000",
		SerialPattern: "SIM%06d", Namespace: cwmp.NS12, SupportedVersions: "1.0,1.1,1.2,1.3,1.4",
		UserAgent: "provisor-sim/1.0", Methods: allMethods,
		InformParams: []string{
			"Device.RootDataModelVersion",
			"Device.DeviceInfo.HardwareVersion",
			"Device.DeviceInfo.SoftwareVersion",
			"Device.DeviceInfo.ProvisioningCode",
			"Device.ManagementServer.ParameterKey",
			"Device.ManagementServer.ConnectionRequestURL",
			"Device.IP.Interface.1.IPv4Address.1.IPAddress",
		},
		FileTypes: standardFileTypes, UploadTypes: standardUploadTypes, vendor: standardFiles{},
	}
	b := newBuilder(p, "Device")
	b.forced = []string{"Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.ProvisioningCode", "Device.ManagementServer.ConnectionRequestURL"}
	return b.build(tr181Text)
}
