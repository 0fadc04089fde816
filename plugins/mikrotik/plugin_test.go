package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/sdk"
	"github.com/provisor/provisor/sdk/sdktest"
)

func newRouter() *sdktest.Device {
	d := sdktest.NewDevice("MikroTik", "E48D8C", "hAP ac lite", "7DCF08DC745D")
	d.SetParam(paramIdentity, "MikroTik", "string", true)
	d.SetParam(paramArch, "mipsbe", "string", false)
	d.SetParam(paramSoftwareVersion, "7.13", "string", false)
	d.SetParam(paramPeriodicEnable, "false", "boolean", true)
	d.SetParam(paramPeriodicInt, "86400", "unsignedInt", true)
	d.SetParam(paramCRUsername, "", "string", true)
	d.SetParam(paramCRPassword, "", "string", true)
	return d
}

func TestBootstrapDefaults(t *testing.T) {
	h := sdktest.New(t, New().ServeOpts(), sdktest.WithConfig(map[string]any{"identityPrefix": "edge-", "periodicInformInterval": 600}))
	d := newRouter()
	if err := h.Session(context.Background(), d, sdk.EventBootstrap, sdk.EventBoot); err != nil {
		t.Fatal(err)
	}
	if got := d.MethodNames(); !slices.Equal(got, []string{"SetParameterValues"}) {
		t.Fatalf("rpcs %v", got)
	}
	for name, want := range map[string]string{paramIdentity: "edge-7DCF08DC745D", paramPeriodicEnable: "true", paramPeriodicInt: "600", paramCRUsername: "7DCF08DC745D"} {
		if got, _ := d.Value(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if pw, _ := d.Value(paramCRPassword); len(pw) != 20 {
		t.Errorf("connection request password %q", pw)
	}
	if !slices.Equal(d.Tags(), []string{"mikrotik"}) {
		t.Errorf("tags %v", d.Tags())
	}
	// A periodic session is none of the plugin's business.
	d.ResetRPCs()
	if err := h.Session(context.Background(), d, sdk.EventPeriodic); err != nil || len(d.RPCs()) != 0 {
		t.Fatalf("periodic: %v %v", err, d.MethodNames())
	}
}

func TestRunScriptDownloadsAnAlterFile(t *testing.T) {
	h := sdktest.New(t, New().ServeOpts())
	d := newRouter()
	res, err := h.Call(context.Background(), d, "runScript", "/system identity set name=edge-7")
	if err != nil {
		t.Fatal(err)
	}
	var tr Transfer
	_ = json.Unmarshal(res, &tr)
	rpcs := d.RPCs()
	if len(rpcs) != 1 || rpcs[0].Method != "Download" {
		t.Fatalf("rpcs %+v", rpcs)
	}
	dl := rpcs[0].Request.(sdk.DownloadRequest)
	if dl.FileType != sdk.FileVendorConfig || !strings.HasSuffix(dl.TargetFileName, ".alter") || dl.CommandKey != tr.CommandKey || tr.Status != 1 {
		t.Fatalf("download %+v result %+v", dl, tr)
	}
	f, ok := h.FileAt(dl.URL)
	if !ok || !strings.HasSuffix(f.Name, ".alter") || string(rpcs[0].File) != "/system identity set name=edge-7\n" || f.DeviceID != d.Info().ID {
		t.Fatalf("file %+v content %q", f, rpcs[0].File)
	}
	if _, err := h.Call(context.Background(), d, "runScript", ""); err == nil {
		t.Fatal("empty script accepted")
	}
	if _, err := h.CallOutside(context.Background(), d, "runScript", "/log info x"); err == nil {
		t.Fatal("runScript ran without a session")
	}
}

func TestFirmwareDescriptor(t *testing.T) {
	h := sdktest.New(t, New().ServeOpts())
	for _, n := range []string{"routeros-7.14.2-mipsbe.npk", "tr069-client-7.14.2-mipsbe.npk", "routeros-7.14.2-arm.npk", "wifi-qcom-7.14.2-mipsbe.npk"} {
		h.PutFile(sdk.FileInfo{Name: n, FileType: sdk.FileFirmware, Version: "7.14.2"}, []byte("npk "+n))
	}
	d := newRouter()
	res, err := h.Call(context.Background(), d, "firmware", "7.14.2", map[string]any{"packages": []string{"wifi-qcom"}})
	if err != nil {
		t.Fatal(err)
	}
	var tr Transfer
	_ = json.Unmarshal(res, &tr)
	if want := []string{"routeros-7.14.2-mipsbe.npk", "tr069-client-7.14.2-mipsbe.npk", "wifi-qcom-7.14.2-mipsbe.npk"}; !slices.Equal(tr.Packages, want) {
		t.Fatalf("packages %v", tr.Packages)
	}
	rpcs := d.RPCs()
	dl := rpcs[len(rpcs)-1].Request.(sdk.DownloadRequest)
	if dl.FileType != sdk.FileFirmware {
		t.Fatalf("download %+v", dl)
	}
	var desc struct {
		XMLName xml.Name `xml:"upgrade"`
		Version string   `xml:"version,attr"`
		Type    string   `xml:"type,attr"`
		Links   []string `xml:"links>link>url"`
	}
	body := rpcs[len(rpcs)-1].File
	if err := xml.Unmarshal(body, &desc); err != nil || desc.Version != "1" || desc.Type != "links" || len(desc.Links) != 3 {
		t.Fatalf("descriptor %s: %+v %v", body, desc, err)
	}
	for i, u := range desc.Links {
		f, ok := h.FileAt(u)
		if !ok || f.Name != tr.Packages[i] {
			t.Fatalf("link %s -> %+v", u, f)
		}
	}
	if !bytes.Contains(body, []byte("<config></config>")) {
		t.Fatalf("no <config/> in %s", body)
	}
	if b, ok := h.KV(d.Info().ID, kvExpect); !ok || !bytes.Contains(b, []byte(`"version":"7.14.2"`)) {
		t.Fatalf("expectation %s", b)
	}
	// A missing package is named, and nothing is sent.
	d.ResetRPCs()
	if _, err := h.Call(context.Background(), d, "firmware", "7.15"); err == nil || !strings.Contains(err.Error(), "routeros-7.15-mipsbe.npk") {
		t.Fatalf("missing packages: %v", err)
	}
	if n := len(d.RPCs()); n != 0 {
		t.Fatalf("%d calls for a failed upgrade", n)
	}
}

func TestBootChecksTheUpgrade(t *testing.T) {
	h := sdktest.New(t, New().ServeOpts())
	for _, n := range []string{"routeros-7.14.2-mipsbe.npk", "tr069-client-7.14.2-mipsbe.npk"} {
		h.PutFile(sdk.FileInfo{Name: n, FileType: sdk.FileFirmware}, []byte("npk"))
	}
	d := newRouter()
	if _, err := h.Call(context.Background(), d, "firmware", "7.14.2"); err != nil {
		t.Fatal(err)
	}
	// A boot that still runs the old version keeps waiting.
	if err := h.Session(context.Background(), d, sdk.EventBoot); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.KV(d.Info().ID, kvExpect); !ok || len(d.Tags()) != 0 {
		t.Fatal("expectation dropped before the version was seen")
	}
	d.SetParam(paramSoftwareVersion, "7.14.2", "string", false)
	if err := h.Session(context.Background(), d, sdk.EventBoot, sdk.EventMDownload); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.KV(d.Info().ID, kvExpect); ok || !slices.Equal(d.Tags(), []string{"routeros-7.14.2"}) {
		t.Fatalf("after the upgrade: tags %v", d.Tags())
	}
}

func TestStoredFileFunctionsAndUploads(t *testing.T) {
	h := sdktest.New(t, New().ServeOpts())
	h.PutFile(sdk.FileInfo{Name: "office.rsc", FileType: sdk.FileVendorConfig}, []byte("/interface bridge add name=bridge\n"))
	h.PutFile(sdk.FileInfo{Name: "setup.alter", FileType: sdk.FileVendorConfig}, []byte("/log info x\n"))
	h.PutFile(sdk.FileInfo{Name: "defconf.rsc", FileType: fileFactoryConfig}, []byte("/ip dhcp-client add interface=ether1\n"))
	d := newRouter()
	ctx := context.Background()
	if _, err := h.Call(ctx, d, "replaceConfig", "setup.alter"); err == nil {
		t.Fatal("replaceConfig took an .alter file")
	}
	if _, err := h.Call(ctx, d, "replaceConfig", "office.rsc"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, d, "factoryConfig", "defconf.rsc"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, d, "backup"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, d, "logs"); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range d.RPCs() {
		switch x := r.Request.(type) {
		case sdk.DownloadRequest:
			types = append(types, r.Method+" "+x.FileType+" "+x.TargetFileName)
		case sdk.UploadRequest:
			types = append(types, r.Method+" "+x.FileType)
		}
	}
	want := []string{"Download 3 Vendor Configuration File office.rsc", "Download X MIKROTIK Factory Configuration File defconf.rsc",
		"Upload 1 Vendor Configuration File", "Upload 2 Vendor Log File"}
	if !slices.Equal(types, want) {
		t.Fatalf("calls %q", types)
	}
	export, _ := os.ReadFile("testdata/export.rsc")
	res, err := h.Upload(ctx, sdk.UploadedFile{Device: d.Info(), FileType: sdk.FileUploadVendorConfig, Name: "upload.cfg", Size: int64(len(export)), Head: export})
	if err != nil || !strings.HasPrefix(res.Name, "7DCF08DC745D-") || res.Metadata["routeros"] != "7.13" || res.Metadata["model"] != "RB952Ui-5ac2nD" {
		t.Fatalf("inspected %+v %v", res, err)
	}
	if _, err := h.Upload(ctx, sdk.UploadedFile{Device: d.Info(), FileType: sdk.FileUploadVendorConfig, Head: []byte("garbage")}); err == nil {
		t.Fatal("garbage accepted as an export")
	}
}

func TestCredentialsAndOnboard(t *testing.T) {
	h := sdktest.New(t, New().ServeOpts(), sdktest.WithConfig(map[string]any{"cpeSecret": "s3cret"}))
	d := newRouter()
	c, ok, err := h.Credentials(context.Background(), sdk.CredentialsRequest{Kind: sdk.CredentialsCPE, Username: "7DCF08DC745D", Device: d.Info()})
	if err != nil || !ok || c.Password != DerivePassword("s3cret", "7DCF08DC745D") || len(c.Password) != 24 {
		t.Fatalf("%+v %v %v", c, ok, err)
	}
	if _, ok, _ := h.Credentials(context.Background(), sdk.CredentialsRequest{Kind: sdk.CredentialsCPE, Username: "admin", Device: d.Info()}); ok {
		t.Fatal("vouched for another user name")
	}
	res, err := h.CallOutside(context.Background(), nil, "onboardScript", map[string]any{"acsURL": "https://acs.example.net:7547/cwmp", "serial": "7DCF08DC745D", "interval": int64(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	var script string
	_ = json.Unmarshal(res, &script)
	want := `/tr069-client set enabled=yes acs-url="https://acs.example.net:7547/cwmp" username="7DCF08DC745D" password="` + c.Password + `" periodic-inform-enabled=yes periodic-inform-interval=30m check-certificate=no`
	if !strings.Contains(script, want) {
		t.Fatalf("script:\n%s\nwant line %s", script, want)
	}
}

func TestOnboardCommand(t *testing.T) {
	ca := "-----BEGIN CERTIFICATE-----\nMIIBfz...\n-----END CERTIFICATE-----\n"
	dir := t.TempDir()
	_ = os.WriteFile(dir+"/ca.pem", []byte(ca), 0o600)
	var out, errOut bytes.Buffer
	if err := onboardCmd([]string{"-acs-url", "https://acs.example.net:7547/cwmp", "-password", `p"w$`, "-ca", dir + "/ca.pem", "-dhcp", "ether1", "-allow-cr-from", "192.0.2.10"}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	script := out.String()
	for _, want := range []string{
		`/ip dhcp-client add interface=ether1 disabled=no comment=provisor`,
		`/file add name=provisor-ca.pem contents="-----BEGIN CERTIFICATE-----\nMIIBfz...\n-----END CERTIFICATE-----\n"`,
		`/certificate import file-name=provisor-ca.pem passphrase=""`,
		`:do { :set sn [/system routerboard get serial-number] } on-error={ :set sn [/system license get system-id] }`,
		`username=$sn password="p\"w\$" periodic-inform-enabled=yes periodic-inform-interval=1h check-certificate=yes`,
		`/ip firewall filter add chain=input protocol=tcp dst-port=7547 src-address=192.0.2.10 action=accept place-before=0`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %s:\n%s", want, script)
		}
	}
	if len(script) > flashFigLimit || errOut.Len() != 0 {
		t.Errorf("%d bytes, warnings %q", len(script), errOut.String())
	}
	if err := onboardCmd([]string{"-acs-url", "ftp://x"}, &out, &errOut); err == nil {
		t.Error("bad URL accepted")
	}
}

func TestRosDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 30 * time.Minute: "30m", 90 * time.Second: "1m30s", 0: "0s", 25 * time.Hour: "25h"} {
		if got := rosDuration(d); got != want {
			t.Errorf("rosDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
