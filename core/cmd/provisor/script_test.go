package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScriptCheck(t *testing.T) {
	var out, errb bytes.Buffer
	if err := scriptCmd([]string{"check", "../../../scripts"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	for _, want := range []string{"4 entry scripts", `default.js:`, `"0 BOOTSTRAP" order=-10`, `"8 DIAGNOSTICS COMPLETE"`, `"transferComplete"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}

	dir := t.TempDir()
	write(t, dir, "ok.js", "require(\"provisor\").on(\"1 BOOT\", (s) => {}, {productClass: \"hAP\", order: 2});\n")
	write(t, dir, "bad.js", "const x = 1;\nx +;\n")
	out.Reset()
	err := scriptCmd([]string{"check", dir}, &out, &errb)
	if err == nil || err.Error() != "1 script errors" {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`ok.js:1:23`, `"1 BOOT" order=2 productClass=hAP`, "1 errors:", "bad.js:2:4: SyntaxError: Unexpected token ;"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestScriptTest(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.js", `const provisor = require("provisor");
provisor.on("1 BOOT", (s) => {
	s.device.set({"Device.ManagementServer.PeriodicInformInterval": 60});
	s.store.set("seen", s.events);
	s.log.info("configured", {model: s.device.productClass});
});
provisor.on("2 PERIODIC", (s) => { s.device.set({"Device.DeviceInfo.SoftwareVersion": "x"}); });
`)
	var out, errb bytes.Buffer
	// Flags before and after the script, as people type them.
	err := scriptCmd([]string{"test", "--product-class", "hAP", filepath.Join(dir, "a.js"), "--events", "1 BOOT", "--events", "2 PERIODIC"}, &out, &errb)
	if err == nil || err.Error() != "1 script errors" {
		t.Fatalf("err = %v\n%s%s", err, out.String(), errb.String())
	}
	for _, want := range []string{
		"== session 1: 1 BOOT",
		`-> SetParameterValues`,
		`Device.ManagementServer.PeriodicInformInterval = "60" (unsignedInt)`,
		`<- SetParameterValuesResponse Status=0`,
		`store.set "seen" = ["1 BOOT"]`,
		`log INFO  [a.js:5 1 BOOT] configured model=hAP`,
		"== session 2: 2 PERIODIC",
		`<- Fault 9003 "Invalid arguments"`,
		`Device.DeviceInfo.SoftwareVersion: 9008`,
		`script handler failed`,
		`Device.ManagementServer.PeriodicInformInterval: "3600" -> "60"`,
		"== 2 RPCs, 1 script errors, 0 load errors",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("test output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}

	out.Reset()
	if err := scriptCmd([]string{"test", dir, "--profile", "tr098", "--events", "0 BOOTSTRAP"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "root InternetGatewayDevice.") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// TestScriptTestFiles: --file puts files into the run's file store, where
// download({file}) finds them; upload() without a url needs nothing more.
func TestScriptTestFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "fw.js", `const provisor = require("provisor");
provisor.on("1 BOOT", (s) => {
	s.device.download({file: "hgw-2.0.bin"});
	s.device.download({file: "settings.xml"});
	s.device.upload({fileType: "1 Vendor Configuration File"});
});
`)
	write(t, dir, "hgw-2.0.bin", "image")
	write(t, dir, "settings.xml", "<c/>")
	for _, c := range []struct {
		name  string
		files []string
		err   string
		want  []string
	}{
		{"stored", []string{filepath.Join(dir, "hgw-2.0.bin"), filepath.Join(dir, "settings.xml") + ", X 00D0B7 Settings"}, "", []string{
			"file: hgw-2.0.bin (1 Firmware Upgrade Image, 5 bytes) id=",
			"file: settings.xml (X 00D0B7 Settings, 4 bytes) id=",
			`-> Download FileType="1 Firmware Upgrade Image" URL="http://provisor.invalid:7547/files/d/`,
			`FileSize=5 TargetFileName="hgw-2.0.bin"`,
			`-> Download FileType="X 00D0B7 Settings"`,
			`-> Upload FileType="1 Vendor Configuration File" URL="http://provisor.invalid:7547/files/u/`,
		}},
		{"missing", []string{filepath.Join(dir, "hgw-2.0.bin")}, "1 script errors", []string{
			`s.device.download: no stored file with the ID or name \"settings.xml\"`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"test", filepath.Join(dir, "fw.js"), "--events", "1 BOOT"}
			for _, f := range c.files {
				args = append(args, "--file", f)
			}
			var out, errb bytes.Buffer
			err := scriptCmd(args, &out, &errb)
			if (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
				t.Fatalf("err = %v, want %q\n%s%s", err, c.err, out.String(), errb.String())
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if t.Failed() {
				t.Log(out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if err := scriptCmd([]string{"test", filepath.Join(dir, "fw.js"), "--file", filepath.Join(dir, "nope.bin")}, &out, &errb); err == nil {
		t.Fatal("a missing --file accepted")
	}
}

func TestGuessFileType(t *testing.T) {
	for p, want := range map[string]string{
		"routeros-7.15.npk": "1 Firmware Upgrade Image", "fw.BIN": "1 Firmware Upgrade Image",
		"a.cfg": "3 Vendor Configuration File", "setup.alter": "3 Vendor Configuration File", "x/y.RSC": "3 Vendor Configuration File",
	} {
		if got := guessFileType(p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
}

func TestScriptUsage(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{}, {"frobnicate"}, {"test"}, {"check", "a", "b"}} {
		if err := scriptCmd(args, &out, &errb); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	if err := scriptCmd([]string{"test", "nope.js"}, &out, &errb); err == nil {
		t.Error("missing script accepted")
	}
	if err := scriptCmd([]string{"check", "nope"}, &out, &errb); err == nil {
		t.Error("missing directory accepted")
	}
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
