package script_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/script/scripttest"
)

const bundledDir = "../../../scripts"

// TestBundledScripts runs the scripts shipped in scripts/ against both data
// models, over three sessions: bootstrap and boot, then two periodic ones.
func TestBundledScripts(t *testing.T) {
	b, err := script.Check(bundledDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Errors) > 0 {
		t.Fatalf("bundled scripts: %v", b.Errors)
	}
	sessions := [][]cwmp.EventCode{{cwmp.EventBootstrap, cwmp.EventBoot}, {cwmp.EventPeriodic}, {cwmp.EventPeriodic}}
	// The image lib/firmware.json names, as an operator stores it.
	image := filepath.Join(t.TempDir(), "ExampleCPE-2.4.1.bin")
	if err := os.WriteFile(image, []byte("image 2.4.1"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []scripttest.File{{Path: image, Type: cwmp.FileFirmware}}
	cases := []struct {
		profile string
		want    []string
		absent  []string
	}{
		{"tr181", []string{
			// bootstrap: interval and credentials
			`Device.ManagementServer.PeriodicInformInterval = "900" (unsignedInt)`,
			`store.set "connectionRequest" = {"username":"TEST0001","password":"`,
			// firmware policy: download, then the new version after the reboot
			`-> Download FileType="1 Firmware Upgrade Image" URL="` + scripttest.FilesBaseURL + `/files/d/`,
			`/ExampleCPE-2.4.1.bin" CommandKey="script-`, `FileSize=11 TargetFileName="ExampleCPE-2.4.1.bin"`,
			`firmware downloaded target=2.4.1`,
			`software version changed from=1.0.0 to=2.4.1`,
			`Device.DeviceInfo.SoftwareVersion: "1.0.0" -> "2.4.1"`,
			// monitoring
			`-> GetParameterValues Device.DeviceInfo.UpTime, Device.DeviceInfo.MemoryStatus.Free, Device.DeviceInfo.ProcessStatus.CPUUsage`,
			// backup
			`-> Upload FileType="1 Vendor Configuration File" URL="` + scripttest.FilesBaseURL + `/files/u/`,
			`configuration backup stored to="file store"`,
			// Wi-Fi: the scan, then the move away from the crowded channel
			`Device.WiFi.NeighboringWiFiDiagnostic.DiagnosticsState = "Requested" (string)`,
			`Wi-Fi channel changed radio=Device.WiFi.Radio.1. from=6 to=11`,
			`Device.WiFi.Radio.1.Channel: "6" -> "11"`,
			`Device.ManagementServer.PeriodicInformInterval: "3600" -> "900"`,
			"0 script errors, 0 load errors",
		}, nil},
		{"tr098", []string{
			`InternetGatewayDevice.ManagementServer.PeriodicInformInterval = "900" (unsignedInt)`,
			`InternetGatewayDevice.DeviceInfo.SoftwareVersion: "1.0.0" -> "2.4.1"`,
			`-> Upload FileType="1 Vendor Configuration File"`,
			"0 script errors, 0 load errors",
		}, []string{"NeighboringWiFiDiagnostic"}},
	}
	for _, tc := range cases {
		t.Run(tc.profile, func(t *testing.T) {
			var out strings.Builder
			res, err := scripttest.Run(context.Background(), scripttest.Options{
				Dir: bundledDir, Profile: tc.profile, Sessions: sessions,
				ID: cwmp.DeviceID{ProductClass: "ExampleCPE"}, Files: files,
			}, &out)
			if err != nil {
				t.Fatal(err)
			}
			report := out.String()
			if res.ScriptErrors+res.LoadErrors > 0 {
				t.Fatalf("errors:\n%s", report)
			}
			for _, w := range tc.want {
				if !strings.Contains(report, w) {
					t.Errorf("report lacks %q", w)
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(report, w) {
					t.Errorf("report has %q", w)
				}
			}
			if t.Failed() {
				t.Log(report)
			}
		})
	}
}

// TestBundledPasswordPerDevice: the bootstrap password differs between
// devices and, with the same secret, is the same for the same device.
func TestBundledPasswordPerDevice(t *testing.T) {
	password := func(serial string) string {
		var out strings.Builder
		_, err := scripttest.Run(context.Background(), scripttest.Options{
			Dir: bundledDir, Entries: []string{"default.js"}, Sessions: [][]cwmp.EventCode{{cwmp.EventBootstrap}},
			ID: cwmp.DeviceID{SerialNumber: serial}, Script: script.Options{Secret: []byte("s3cret")},
		}, &out)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(out.String(), `"password":"`)
		if !ok {
			t.Fatalf("no password:\n%s", out.String())
		}
		pw, _, _ := strings.Cut(rest, `"`)
		if len(pw) != 20 {
			t.Fatalf("password %q", pw)
		}
		return pw
	}
	a, b, a2 := password("SNA"), password("SNB"), password("SNA")
	if a == b || a != a2 {
		t.Fatalf("passwords %q %q %q", a, b, a2)
	}
}
