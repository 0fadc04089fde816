package sim

import "github.com/provisor/provisor/core/cwmp"

// tr098Text is an older gateway on TR-098 InternetGatewayDevice:1 speaking
// CWMP 1.1: one WAN IP connection with port mappings, four LAN ports, one
// WLAN and a few hosts.
const tr098Text = `
InternetGatewayDevice.
  DeviceSummary = InternetGatewayDevice:1.4[](Baseline:2, EthernetLAN:1, WiFiLAN:1, Time:1, IPPing:1)
InternetGatewayDevice.DeviceInfo.
  Manufacturer = ${manufacturer}
  ManufacturerOUI = ${oui}
  ModelName = GW-98
  Description = Provisor simulated TR-098 gateway
  ProductClass = ${productclass}
  SerialNumber = ${serial}
  HardwareVersion = 1.2
  SoftwareVersion = 3.10.7
  SpecVersion = 1.0
  UpTime !deny = ${uptime}
InternetGatewayDevice.DeviceInfo.VendorConfigFile.1.
  Name = config.bin
InternetGatewayDevice.ManagementServer.
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
InternetGatewayDevice.Time.
  Enable = true
  Status = Synchronized
  NTPServer1 = pool.ntp.org
  CurrentLocalTime = ${now}
InternetGatewayDevice.UserInterface.
  PasswordRequired = true
InternetGatewayDevice.Layer3Forwarding.
  DefaultConnectionService = InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1
InternetGatewayDevice.LANDevice.1.LANHostConfigManagement.
  DHCPServerConfigurable = true
  DHCPServerEnable = true
  MinAddress = 192.168.1.100
  MaxAddress = 192.168.1.249
  SubnetMask = 255.255.255.0
  DNSServers = 192.168.1.1
  DomainName = home
  IPRouters = 192.168.1.1
  MACAddress = ${mac:1}
InternetGatewayDevice.LANDevice.1.LANHostConfigManagement.IPInterface.1.
  Enable = true
  IPInterfaceIPAddress = 192.168.1.1
  IPInterfaceSubnetMask = 255.255.255.0
  IPInterfaceAddressingType = Static
InternetGatewayDevice.LANDevice.1.LANEthernetInterfaceConfig.1.
  Enable = true
  Status = Up
  Name = eth1
  MACAddress = ${mac:1}
  MaxBitRate = 100
  DuplexMode = Full
InternetGatewayDevice.LANDevice.1.LANEthernetInterfaceConfig.2.
  Enable = true
  Status = NoLink
  Name = eth2
  MACAddress = ${mac:1}
  MaxBitRate = Auto
  DuplexMode = Auto
InternetGatewayDevice.LANDevice.1.LANEthernetInterfaceConfig.3.
  Enable = true
  Status = NoLink
  Name = eth3
  MACAddress = ${mac:1}
  MaxBitRate = Auto
  DuplexMode = Auto
InternetGatewayDevice.LANDevice.1.LANEthernetInterfaceConfig.4.
  Enable = true
  Status = NoLink
  Name = eth4
  MACAddress = ${mac:1}
  MaxBitRate = Auto
  DuplexMode = Auto
InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.
  Enable = true
  Status = Up
  Name = wl0
  BSSID = ${mac:8}
  SSID = ${ssid:1}
  Channel = 11
  AutoChannelEnable = true
  RadioEnabled = true
  Standard = g
  BeaconType = 11i
  IEEE11iEncryptionModes = AESEncryption
  IEEE11iAuthenticationMode = PSKAuthentication
  KeyPassphrase = ${wifikey:1}
  SSIDAdvertisementEnabled = true
  PossibleChannels = 1-13
  TotalBytesSent = ${counter}
  TotalBytesReceived = ${counter}
  TotalPacketsSent = ${counter}
  TotalPacketsReceived = ${counter}
InternetGatewayDevice.LANDevice.1.Hosts.Host.1.
  MACAddress = ${hostmac:1}
  IPAddress = ${hostip:1}
  HostName = desktop
  Active = true
  AddressSource = DHCP
  InterfaceType = Ethernet
  Layer2Interface = InternetGatewayDevice.LANDevice.1.LANEthernetInterfaceConfig.1
InternetGatewayDevice.LANDevice.1.Hosts.Host.2.
  MACAddress = ${hostmac:2}
  IPAddress = ${hostip:2}
  HostName = tablet
  Active = true
  AddressSource = DHCP
  InterfaceType = 802.11
  Layer2Interface = InternetGatewayDevice.LANDevice.1.WLANConfiguration.1
InternetGatewayDevice.WANDevice.1.WANCommonInterfaceConfig.
  EnabledForInternet = true
  WANAccessType = Ethernet
  Layer1UpstreamMaxBitRate = 100000000
  Layer1DownstreamMaxBitRate = 100000000
  PhysicalLinkStatus = Up
  TotalBytesSent = ${counter}
  TotalBytesReceived = ${counter}
  TotalPacketsSent = ${counter}
  TotalPacketsReceived = ${counter}
InternetGatewayDevice.WANDevice.1.WANEthernetInterfaceConfig.
  Enable = true
  Status = Up
  MACAddress = ${mac:0}
  MaxBitRate = 100
  DuplexMode = Full
InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.
  Enable = true
  ConnectionStatus = Connected
  PossibleConnectionTypes = IP_Routed
  ConnectionType = IP_Routed
  Name = wan
  NATEnabled = true
  AddressingType = DHCP
  ExternalIPAddress = ${wanip}
  SubnetMask = 255.192.0.0
  DefaultGateway = ${wangw}
  DNSServers = 100.64.0.1
  MACAddress = ${mac:0}
  Uptime = ${uptime}
InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.PortMapping.1.
  PortMappingEnabled = true
  PortMappingDescription = web
  PortMappingProtocol = TCP
  ExternalPort = 8080
  InternalPort = 80
  InternalClient = 192.168.1.101
`

func buildTR098() (*Profile, error) {
	wan := "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1."
	p := &Profile{
		Name: "tr098", Root: "InternetGatewayDevice.", Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "GW-98",
		SerialPattern: "IGD%06d", Namespace: cwmp.NS11, UserAgent: "provisor-sim/1.0 (tr098)",
		Methods: []string{
			"GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues",
			"GetParameterAttributes", "SetParameterAttributes", "AddObject", "DeleteObject",
			"Reboot", "FactoryReset", "Download", "Upload", "ScheduleInform",
			"GetQueuedTransfers", "GetAllQueuedTransfers",
		},
		InformParams: []string{
			"InternetGatewayDevice.DeviceSummary",
			"InternetGatewayDevice.DeviceInfo.SpecVersion",
			"InternetGatewayDevice.DeviceInfo.HardwareVersion",
			"InternetGatewayDevice.DeviceInfo.SoftwareVersion",
			"InternetGatewayDevice.DeviceInfo.ProvisioningCode",
			"InternetGatewayDevice.ManagementServer.ConnectionRequestURL",
			"InternetGatewayDevice.ManagementServer.ParameterKey",
			wan + "ExternalIPAddress",
		},
		FileTypes:   standardFileTypes,
		UploadTypes: []string{cwmp.FileUploadVendorConfig, cwmp.FileUploadVendorLog},
		vendor:      standardFiles{},
	}
	b := newBuilder(p, "InternetGatewayDevice")
	b.forced = []string{"InternetGatewayDevice.DeviceInfo.SoftwareVersion", "InternetGatewayDevice.DeviceInfo.ProvisioningCode", "InternetGatewayDevice.ManagementServer.ConnectionRequestURL"}
	return b.build(tr098Text)
}
