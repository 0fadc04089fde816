package soap

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// The writer's promise is schema validity, and only the Broadband Forum
// schemas can check it: every message the tests in this package encode is
// run through xmllint against the XSD of its namespace, as
// testdata/cwmp-xsd/validate.sh does.

// xsdCase is one message to validate.
type xsdCase struct {
	name string
	env  *cwmp.Envelope
	opts Options
}

var (
	xsdStart = time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC)
	// A zone other than UTC, with sub-second digits, checks the conversion
	// and the milliseconds knob on every time field.
	xsdEnd = time.Date(2024, 5, 1, 12, 25, 31, 987654321, time.FixedZone("CEST", 2*3600))
)

// xsdValues covers every TR-106 type, typed and untyped (typed from the data
// model), plus text that needs escaping.
func xsdValues() []cwmp.ParameterValue {
	return []cwmp.ParameterValue{
		{Name: "Device.DeviceInfo.Manufacturer", Value: cwmp.String("A&B <Networks> \"Ltd\"\r\n")},
		{Name: "Device.ManagementServer.PeriodicInformInterval", Value: cwmp.Uint(300)},
		{Name: "Device.ManagementServer.PeriodicInformEnable", Value: cwmp.Bool(true)},
		{Name: "Device.ManagementServer.PeriodicInformTime", Value: cwmp.Time(xsdStart)},
		{Name: "Device.Routing.Router.1.IPv4Forwarding.2.ForwardingMetric", Value: cwmp.Int(-1)},
		{Name: "Device.XMPP.Connection.1.KeepAliveInterval", Value: cwmp.Long(-1)},
		{Name: "Device.IP.Interface.3.Stats.BytesSent", Value: cwmp.ULong(18446744073709551615)},
		{Name: "Device.DSL.Line.1.MREFPSDds", Value: cwmp.Base64([]byte{0, 1, 2, 0xff})},
		{Name: "Device.DHCPv4.Server.Pool.1.Option.2.Value", Value: cwmp.HexBinary([]byte{0xde, 0xad})},
		{Name: "Device.IP.Diagnostics.IPLayerCapacityMetrics.IPLayerCapacitySummary", Value: cwmp.Value{Text: "12.5", Untyped: true, Type: cwmp.TypeString}},
		// Untyped: the data model gives the type, and "1" becomes a boolean literal.
		{Name: "Device.ManagementServer.EnableCWMP", Value: cwmp.Value{Text: "1", Untyped: true}},
		{Name: "InternetGatewayDevice.DeviceInfo.UpTime", Value: cwmp.Value{Text: "3600"}},
		// A vendor type on a vendor parameter falls back to string.
		{Name: "Device.X_MIKROTIK_Foo.Bar", Value: cwmp.Value{Type: "X_MIKROTIK_Enum", Text: "on"}},
		{Name: "Device.DeviceInfo.ProvisioningCode", Value: cwmp.String("")},
	}
}

// xsdBodies lists one or more bodies of every type that exists in CWMP
// version 1.minor; minor 2 stands for namespace cwmp-1-2 (versions 1.2-1.4).
func xsdBodies(minor int) []cwmp.Body {
	events := []cwmp.EventStruct{
		{EventCode: cwmp.EventBootstrap},
		{EventCode: cwmp.EventBoot},
		{EventCode: cwmp.EventMReboot, CommandKey: "reboot-1"},
		{EventCode: cwmp.EventValueChange},
	}
	if minor >= 2 {
		events = append(events, cwmp.EventStruct{EventCode: cwmp.EventWakeup},
			cwmp.EventStruct{EventCode: "X 000C42 Alarm"},
			cwmp.EventStruct{EventCode: "M X_000C42_Backup", CommandKey: "k"})
	}
	notification := 2
	if minor >= 2 {
		notification = 6 // lightweight notification, 1.4
	}
	bodies := []cwmp.Body{
		&cwmp.Inform{
			DeviceID:      cwmp.DeviceID{Manufacturer: "MikroTik", OUI: "000C42", ProductClass: "RB750Gr3", SerialNumber: "HE10Q2B3C4D"},
			Events:        events,
			MaxEnvelopes:  1,
			CurrentTime:   xsdEnd,
			RetryCount:    2,
			ParameterList: xsdValues(),
		},
		&cwmp.Inform{DeviceID: cwmp.DeviceID{OUI: "00D09E"}}, // empty lists, Unknown Time
		&cwmp.InformResponse{MaxEnvelopes: 1},
		&cwmp.TransferComplete{CommandKey: "dl-7", StartTime: xsdStart, CompleteTime: xsdEnd},
		&cwmp.TransferComplete{CommandKey: "dl-8", FaultStruct: cwmp.FaultStruct{FaultCode: cwmp.FaultDownloadFailure, FaultString: "HTTP 404"}},
		&cwmp.TransferCompleteResponse{},
		&cwmp.RequestDownload{FileType: cwmp.FileFirmware, FileTypeArg: []cwmp.ArgStruct{{Name: "Version", Value: "7.13"}, {Name: "Arch", Value: "arm"}}},
		&cwmp.RequestDownload{FileType: cwmp.FileVendorConfig},
		&cwmp.RequestDownloadResponse{},
		&cwmp.Kicked{Command: "setup", Referer: "http://cpe/", Arg: "a=1&b=2", Next: "http://cpe/next"},
		&cwmp.KickedResponse{NextURL: "http://acs/next?x=1&y=2"},
		&cwmp.GetRPCMethods{},
		&cwmp.GetRPCMethodsResponse{MethodList: cwmp.ACSMethods},
		&cwmp.GetParameterNames{ParameterPath: "Device.", NextLevel: true},
		&cwmp.GetParameterNames{ParameterPath: ""},
		&cwmp.GetParameterNamesResponse{ParameterList: []cwmp.ParameterInfo{{Name: "Device.", Writable: false}, {Name: "Device.DeviceInfo.ProvisioningCode", Writable: true}}},
		&cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo.", "Device.ManagementServer.URL"}},
		&cwmp.GetParameterValuesResponse{ParameterList: xsdValues()},
		&cwmp.GetParameterValuesResponse{},
		&cwmp.SetParameterValues{ParameterList: xsdValues(), ParameterKey: "pk-1"},
		&cwmp.SetParameterValuesResponse{Status: 1},
		&cwmp.GetParameterAttributes{ParameterNames: []string{"Device.WiFi.SSID.1.SSID"}},
		&cwmp.GetParameterAttributesResponse{ParameterList: []cwmp.ParameterAttribute{
			{Name: "Device.WiFi.SSID.1.SSID", Notification: notification, AccessList: []string{"Subscriber"}},
			{Name: "Device.DeviceInfo.UpTime"},
		}},
		&cwmp.SetParameterAttributes{ParameterList: []cwmp.SetParameterAttributesStruct{
			{Name: "Device.WiFi.SSID.1.SSID", NotificationChange: true, Notification: 1, AccessListChange: true, AccessList: []string{"Subscriber"}},
			{Name: "Device.DeviceInfo.SoftwareVersion", NotificationChange: true, Notification: notification},
		}},
		&cwmp.SetParameterAttributesResponse{},
		&cwmp.AddObject{ObjectName: "Device.NAT.PortMapping.", ParameterKey: "pk-2"},
		&cwmp.AddObjectResponse{InstanceNumber: 4294967295, Status: 0},
		&cwmp.DeleteObject{ObjectName: "Device.NAT.PortMapping.4.", ParameterKey: "pk-3"},
		&cwmp.DeleteObjectResponse{Status: 1},
		&cwmp.Reboot{CommandKey: "reboot-1"},
		&cwmp.RebootResponse{},
		&cwmp.FactoryReset{},
		&cwmp.FactoryResetResponse{},
		&cwmp.Download{CommandKey: "fw-1", FileType: cwmp.FileFirmware, URL: "https://acs.example/fw.xml?arch=arm&v=7", Username: "u", Password: "p<w>", FileSize: 12345, TargetFileName: "fw.xml", DelaySeconds: 5, SuccessURL: "http://ok", FailureURL: ""},
		&cwmp.DownloadResponse{Status: 1},
		&cwmp.DownloadResponse{Status: 0, StartTime: xsdStart, CompleteTime: xsdEnd},
		&cwmp.Upload{CommandKey: "ul-1", FileType: cwmp.FileUploadVendorConfig, URL: "https://acs.example/up", DelaySeconds: 0},
		&cwmp.UploadResponse{Status: 1},
		&cwmp.ScheduleInform{DelaySeconds: 60, CommandKey: "si"},
		&cwmp.ScheduleInformResponse{},
		&cwmp.GetQueuedTransfers{},
		&cwmp.GetQueuedTransfersResponse{TransferList: []cwmp.QueuedTransfer{{CommandKey: "a", State: 1}, {CommandKey: "b", State: 3}}},
		&cwmp.GetQueuedTransfersResponse{},
		&cwmp.GetOptions{OptionName: ""},
		&cwmp.GetOptionsResponse{OptionList: []cwmp.OptionStruct{
			{OptionName: "Opt1", VoucherSN: 7, State: 1, Mode: 2, StartDate: xsdStart, ExpirationDate: xsdEnd, IsTransferable: true},
			{OptionName: "Opt2", StartDate: xsdStart},
		}},
		&cwmp.SetVouchers{VoucherList: []string{"AAECAw==", "BAUG"}},
		&cwmp.SetVouchersResponse{},
		cwmp.NewFault(cwmp.FaultACSMethodNotSupported, ""),
		&cwmp.Fault{SOAPCode: "soap:Client", Code: cwmp.FaultInvalidArguments, String: "Invalid arguments",
			SetParameterValuesFaults: []cwmp.SetParameterValuesFault{
				{ParameterName: "Device.WiFi.SSID.1.SSID", FaultCode: cwmp.FaultInvalidParameterValue, FaultString: "too long"},
				{ParameterName: "Device.DeviceInfo.UpTime", FaultCode: cwmp.FaultNonWritableParameter},
			}},
		&cwmp.Fault{Code: 9850, String: "vendor"},
		&cwmp.Unknown{Name: "X_0012AB_Foo", Namespace: cwmp.NS10},
		nil,
	}
	if minor >= 1 {
		bodies = append(bodies,
			&cwmp.GetAllQueuedTransfers{},
			&cwmp.GetAllQueuedTransfersResponse{TransferList: []cwmp.AllQueuedTransfer{
				{CommandKey: "a", State: 2, IsDownload: true, FileType: cwmp.FileFirmware, FileSize: 1 << 20, TargetFileName: "fw"},
				{CommandKey: "b", State: 1, FileType: cwmp.FileUploadLogFilePrefix}, // the 1.1 pattern lists upload types as 3 and 4
			}},
			&cwmp.AutonomousTransferComplete{AnnounceURL: "http://a", TransferURL: "http://t", IsDownload: true, FileType: cwmp.FileFirmware, FileSize: 99, TargetFileName: "x", StartTime: xsdStart, CompleteTime: xsdEnd},
			&cwmp.AutonomousTransferComplete{FileType: cwmp.FileUploadLogFilePrefix, FaultStruct: cwmp.FaultStruct{FaultCode: cwmp.FaultUploadFailure, FaultString: "disk full"}},
			&cwmp.AutonomousTransferCompleteResponse{},
		)
	}
	if minor >= 2 {
		const uuid = "4e1c2a7b-9f3d-4c5e-8a6b-0d1e2f3a4b5c"
		bodies = append(bodies,
			&cwmp.Download{CommandKey: "cfg", FileType: "X MIKROTIK Factory Configuration File", URL: "http://acs/x.alter"},
			&cwmp.Upload{CommandKey: "ul-2", FileType: "3 Vendor Configuration File 2", URL: "http://acs/up"},
			&cwmp.ScheduleDownload{CommandKey: "sd", FileType: cwmp.FileFirmware, URL: "http://acs/fw", FileSize: 10, TargetFileName: "fw",
				TimeWindowList: []cwmp.TimeWindow{
					{WindowStart: 0, WindowEnd: 3600, WindowMode: "1 At Any Time", UserMessage: "", MaxRetries: -1},
					{WindowStart: 7200, WindowEnd: 10800, WindowMode: "4 Confirmation Needed", UserMessage: "Update <now>?", MaxRetries: 3},
				}},
			&cwmp.ScheduleDownloadResponse{},
			&cwmp.CancelTransfer{CommandKey: "sd"},
			&cwmp.CancelTransferResponse{},
			&cwmp.ChangeDUState{CommandKey: "du", Operations: []cwmp.DUOperation{
				{Kind: cwmp.DUInstall, URL: "http://acs/du.ipk", UUID: uuid, Username: "u", Password: "p", ExecutionEnvRef: "Device.SoftwareModules.ExecEnv.1."},
				{Kind: cwmp.DUInstall, URL: "http://acs/du2.ipk"},
				{Kind: cwmp.DUUpdate, UUID: uuid, Version: "2.0", URL: "http://acs/du3.ipk"},
				{Kind: cwmp.DUUpdate},
				{Kind: cwmp.DUUninstall, UUID: uuid, Version: "1.0", ExecutionEnvRef: "Device.SoftwareModules.ExecEnv.1."},
			}},
			&cwmp.ChangeDUStateResponse{},
			&cwmp.DUStateChangeComplete{CommandKey: "du", Results: []cwmp.OpResult{
				{UUID: uuid, DeploymentUnitRef: "Device.SoftwareModules.DeploymentUnit.1.", Version: "2.0", CurrentState: "Installed", Resolved: true,
					ExecutionUnitRefList: "Device.SoftwareModules.ExecutionUnit.1.", StartTime: xsdStart, CompleteTime: xsdEnd},
				{UUID: uuid, CurrentState: "Failed", Fault: cwmp.DUFaultStruct{FaultCode: cwmp.FaultUnknownExecutionEnv, FaultString: "no EE"}},
			}},
			&cwmp.DUStateChangeCompleteResponse{},
			&cwmp.AutonomousDUStateChangeComplete{Results: []cwmp.OpResult{
				{UUID: uuid, Version: "1", CurrentState: "Uninstalled", OperationPerformed: "Uninstall", StartTime: xsdStart},
			}},
			&cwmp.AutonomousDUStateChangeCompleteResponse{},
			cwmp.NewFault(cwmp.FaultACSVersionIncompatible, ""),
		)
	}
	return bodies
}

func xsdBool(b bool) *bool { return &b }

// xsdHeaders gives the header variants of a namespace: none, the 1.0 header
// elements, and for cwmp-1-2 the 1.3 and 1.4 ones as well.
func xsdHeaders(minor int) []cwmp.Header {
	hs := []cwmp.Header{
		{},
		{ID: "id-1 & <2>", HasID: true, HoldRequests: xsdBool(false)},
	}
	if minor >= 2 {
		timeout := uint32(60)
		hs = append(hs, cwmp.Header{
			ID: "1234", HasID: true, HoldRequests: xsdBool(true), SessionTimeout: &timeout,
			SupportedCWMPVersions: "1.0,1.1,1.2,1.3,1.4", UseCWMPVersion: "1.4",
		})
	}
	return hs
}

// xsdOptions are the knob settings every message is written with.
var xsdOptions = []Options{
	{},
	{NumericBooleans: true, DateTimeMillis: true},
	{NumericNextLevel: true},
}

// xsdCases is every message to validate, by namespace.
func xsdCases() map[string][]xsdCase {
	out := map[string][]xsdCase{}
	for minor, ns := range []string{cwmp.NS10, cwmp.NS11, cwmp.NS12} {
		for _, b := range xsdBodies(minor) {
			method := "EmptyBody"
			if b != nil {
				method = b.Method()
			}
			for hi, h := range xsdHeaders(minor) {
				for oi, o := range xsdOptions {
					out[ns] = append(out[ns], xsdCase{
						name: fmt.Sprintf("%s-h%d-o%d", method, hi, oi),
						env:  &cwmp.Envelope{Namespace: ns, Header: h, Body: b},
						opts: o,
					})
				}
			}
		}
	}
	// The messages of encode_test.go that name a schema namespace.
	out[cwmp.NS10] = append(out[cwmp.NS10], xsdCase{name: "encode-golden", env: encGoldenEnv})
	for _, tc := range encodeTests {
		ns := tc.env.Namespace
		if ns == "" {
			ns = cwmp.NS10
		}
		if _, ok := out[ns]; ok && !tc.noSchema {
			out[ns] = append(out[ns], xsdCase{name: "encode-" + tc.name, env: tc.env, opts: tc.opts})
		}
	}
	return out
}

var xsdDriver = map[string]string{
	cwmp.NS10: "envelope-cwmp-1-0.xsd",
	cwmp.NS11: "envelope-cwmp-1-1.xsd",
	cwmp.NS12: "envelope-cwmp-1-2.xsd", // cwmp-1-4.xsd, which includes 1-3 and 1-2
}

func TestXSDValid(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint not installed (apt-get install libxml2-utils)")
		}
		t.Skip("xmllint not installed (apt-get install libxml2-utils); set CI to make this fatal")
	}
	xsdDir, err := filepath.Abs(filepath.Join("testdata", "cwmp-xsd"))
	if err != nil {
		t.Fatal(err)
	}
	for ns, cases := range xsdCases() {
		t.Run(strings.TrimPrefix(ns, cwmp.NamespacePrefix), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files := make([]string, len(cases))
			docs := make([][]byte, len(cases))
			for i, c := range cases {
				docs[i] = Encode(nil, c.env, c.opts)
				files[i] = filepath.Join(dir, strconv.Itoa(i)+"-"+c.name+".xml")
				if err := os.WriteFile(files[i], docs[i], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// One xmllint run per namespace: compiling the schemas costs
			// more than validating a few hundred small messages.
			args := append([]string{"--nonet", "--noout", "--schema", filepath.Join(xsdDir, xsdDriver[ns])}, files...)
			cmd := exec.Command(xmllint, args...)
			cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+filepath.Join(xsdDir, "catalog.xml"))
			out, _ := cmd.CombinedOutput() // the exit status says less than the per-file lines
			lines := strings.Split(string(out), "\n")
			for i, f := range files {
				if bytes.Contains(out, []byte(f+" validates\n")) {
					continue
				}
				var msgs []string
				for _, l := range lines {
					if strings.HasPrefix(l, f+":") || strings.HasPrefix(l, f+" ") {
						msgs = append(msgs, strings.TrimPrefix(l, dir+string(filepath.Separator)))
					}
				}
				if len(msgs) == 0 {
					msgs = append(msgs, "no verdict from xmllint:\n"+string(out))
				}
				t.Errorf("%s (%s, %+v) is not valid:\n%s\n%s", cases[i].name, ns, cases[i].opts,
					strings.Join(msgs, "\n"), docs[i])
			}
			t.Logf("%d messages validated against %s", len(files), xsdDriver[ns])
		})
	}
}
