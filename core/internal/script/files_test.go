package script_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/script/scripttest"
	"github.com/provisor/provisor/core/internal/sim"
	"github.com/provisor/provisor/core/internal/store"
)

// putFile stores a file as the API does.
func (a *acs) putFile(t testing.TB, name, fileType, body string) store.FileMeta {
	t.Helper()
	m, err := a.files.Put(context.Background(), store.FileMeta{Name: name, Type: fileType}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fileURL checks that u is one of the file store's URLs, on the ACS's own
// listener, of the kind ("d" download, "u" upload).
func (a *acs) fileURL(t testing.TB, u, kind string) {
	t.Helper()
	acsURL, _ := url.Parse(a.url)
	got, err := url.Parse(u)
	if err != nil || got.Host != acsURL.Host || !strings.HasPrefix(got.Path, "/files/"+kind+"/") {
		t.Fatalf("URL %q is no file store %s URL on %s", u, kind, acsURL.Host)
	}
}

// TestFileStoreDeviceAPI: download({file}) and upload() without a url use
// the ACS's own file store.
func TestFileStoreDeviceAPI(t *testing.T) {
	var fw store.FileMeta
	cases := []apiCase{
		{
			name: "download by name fills type, size and target name",
			setup: func(a *acs, c *cpe) {
				a.putFile(t, "fw-2.0.1.bin", cwmp.FileFirmware, "old upload of the same name")
				fw = a.putFile(t, "fw-2.0.1.bin", cwmp.FileFirmware, "the image")
			},
			script: `provisor.on("1 BOOT", (s) => out(s, s.device.download({file: "fw-2.0.1.bin"})));`,
			rpcs:   [][]string{{"Download"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				d := res[0].Calls[0].Request.(*cwmp.Download)
				a.fileURL(t, d.URL, "d")
				if !strings.Contains(d.URL, fw.ID) || d.FileType != cwmp.FileFirmware || d.FileSize != 9 || d.TargetFileName != "fw-2.0.1.bin" {
					t.Fatalf("Download sent %+v", d)
				}
				out := a.data(t, c, "out").(map[string]any)
				f, _ := out["file"].(map[string]any)
				if out["commandKey"] != d.CommandKey || f["id"] != fw.ID || f["name"] != "fw-2.0.1.bin" || f["size"] != 9.0 || f["fileType"] != cwmp.FileFirmware {
					t.Fatalf("result %v", out)
				}
			},
		},
		{
			name: "download by ID: what the script gives wins",
			setup: func(a *acs, c *cpe) {
				fw = a.putFile(t, "settings.xml", cwmp.FileVendorConfig, "<config/>")
			},
			// The first download's result names the file's ID.
			script: `provisor.on("1 BOOT", (s) => {
				const id = s.device.download({file: "settings.xml"}).file.id;
				s.device.download({file: id, fileType: "X 00D0B7 Settings", fileSize: 1, targetFileName: "a.xml", commandKey: "cfg-1", delaySeconds: 30});
			});`,
			rpcs: [][]string{{"Download", "Download"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				first, d := res[0].Calls[0].Request.(*cwmp.Download), res[0].Calls[1].Request.(*cwmp.Download)
				if first.FileType != cwmp.FileVendorConfig || first.FileSize != 9 {
					t.Fatalf("first Download sent %+v", first)
				}
				a.fileURL(t, d.URL, "d")
				if !strings.Contains(d.URL, fw.ID) || d.FileType != "X 00D0B7 Settings" || d.FileSize != 1 || d.TargetFileName != "a.xml" || d.CommandKey != "cfg-1" || d.DelaySeconds != 30 {
					t.Fatalf("Download sent %+v", d)
				}
			},
		},
		{
			name: "unknown file",
			script: `provisor.on("1 BOOT", (s) => {
				try { s.device.download({file: "missing.bin"}); } catch (e) { out(s, [e.name, e.message]); }
			});`,
			out:  `["Error", "s.device.download: no stored file with the ID or name \"missing.bin\""]`,
			rpcs: [][]string{nil},
		},
		{
			name: "url and file, or neither",
			script: `provisor.on("1 BOOT", (s) => {
				const msgs = [];
				for (const o of [{file: "a", url: "http://x/a"}, {fileType: "1 Firmware Upgrade Image"}, {file: "a", bogus: 1}]) {
					try { s.device.download(o); } catch (e) { msgs.push(e.name + ": " + e.message); }
				}
				out(s, msgs);
			});`,
			out: `["TypeError: s.device.download: give url or file, not both", "TypeError: s.device.download: url or file is required",
				"TypeError: s.device.download: unknown option \"bogus\"; the options are fileType, file, url, username, password, fileSize, targetFileName, delaySeconds, successURL, failureURL, commandKey"]`,
			rpcs: [][]string{nil},
		},
		{
			name:   "upload without a url goes into the file store",
			script: `provisor.on("1 BOOT", (s) => out(s, s.device.upload({fileType: "1 Vendor Configuration File", commandKey: "bk-1"})));`,
			out:    `{"status": 1, "commandKey": "bk-1"}`,
			rpcs:   [][]string{{"Upload"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				u := res[0].Calls[0].Request.(*cwmp.Upload)
				a.fileURL(t, u.URL, "u")
				// The in-memory CPE does not transfer; play its part.
				resp, err := httpPut(u.URL, "backup bytes")
				if err != nil || resp != 201 {
					t.Fatalf("PUT: %d %v", resp, err)
				}
				list, _, _ := a.files.List(context.Background(), store.FileFilter{DeviceID: c.id})
				if len(list) != 1 || list[0].CommandKey != "bk-1" || list[0].Type != "1 Vendor Configuration File" || list[0].Source != store.FileFromDevice {
					t.Fatalf("stored %+v", list)
				}
			},
		},
		{
			name:   "upload with a url is unchanged",
			script: `provisor.on("1 BOOT", (s) => s.device.upload({fileType: "1 Vendor Configuration File", url: "http://files.test/up"}));`,
			rpcs:   [][]string{{"Upload"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				if u := res[0].Calls[0].Request.(*cwmp.Upload); u.URL != "http://files.test/up" {
					t.Fatalf("Upload sent %+v", u)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runAPICase(t, tc, acsConfig{files: true})
		})
	}
}

// TestFileStoreNotConfigured: without files.base_url, or with no file
// store at all, the file forms throw an error that says what to do, and
// nothing is sent to the device.
func TestFileStoreNotConfigured(t *testing.T) {
	calls := `provisor.on("1 BOOT", (s) => {
		const msgs = [];
		for (const f of [() => s.device.download({file: "fw.bin"}), () => s.device.upload({fileType: "1 Vendor Configuration File"})]) {
			try { f(); } catch (e) { msgs.push(e.message); }
		}
		out(s, msgs);
	});`
	for _, c := range []struct {
		name string
		cfg  acsConfig
		want string
	}{
		{"no base URL", acsConfig{files: true, noBaseURL: true},
			`["s.device.download: the server has no files.base_url, so it cannot give the device a download URL; set files.base_url (PROVISOR_FILES_BASE_URL) to the URL devices reach this server at, e.g. http://acs.example.net:7547, or give url",
			  "s.device.upload: the server has no files.base_url, so it cannot give the device an upload URL; set files.base_url (PROVISOR_FILES_BASE_URL) to the URL devices reach this server at, e.g. http://acs.example.net:7547, or give url"]`},
		{"no file store", acsConfig{},
			`["s.device.download: this server has no file store, so it cannot give the device a download URL; give url",
			  "s.device.upload: this server has no file store, so it cannot give the device an upload URL; give url"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			runAPICase(t, apiCase{name: c.name, script: calls, out: c.want, rpcs: [][]string{nil}}, c.cfg)
		})
	}
}

// TestFileStoreWithSimulator: a simulated CPE, over HTTP on loopback,
// upgrades to an image a script names from the file store, then uploads
// its configuration into the store, where it lands with the command key.
func TestFileStoreWithSimulator(t *testing.T) {
	const scriptText = prelude + `
provisor.on("1 BOOT", (s) => {
	const v = String(s.device.get(s.device.root + "DeviceInfo.SoftwareVersion"));
	if (provisor.version.lt(v, "9.9.9")) {
		s.store.set("dl", s.device.download({fileType: "1 Firmware Upgrade Image", file: "fw-9.9.9.bin"}).commandKey);
	} else if (!s.store.get("up")) {
		s.store.set("up", s.device.upload({fileType: "1 Vendor Configuration File"}).commandKey);
	}
});
provisor.on("transferComplete", (s, tc) => s.store.set("tc:" + tc.commandKey, tc.faultCode));
`
	for _, profile := range []string{"tr181", "tr098"} {
		t.Run(profile, func(t *testing.T) {
			a := startACS(t, map[string]string{"a.js": scriptText}, acsConfig{files: true})
			a.putFile(t, "fw-9.9.9.bin", cwmp.FileFirmware, sim.FirmwareMagic+"9.9.9\nimage")
			p, err := sim.LookupProfile(profile)
			if err != nil {
				t.Fatal(err)
			}
			s, err := sim.New(sim.Config{ACSURL: a.url, Profile: p, Devices: 1, RetryMin: 50 * time.Millisecond,
				BootDelay: 50 * time.Millisecond, Timeout: 10 * time.Second, LoopbackOnly: true, CRListen: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Stop)
			d := s.Device(0)
			id := d.Identity()
			devID := store.DeviceIDFrom(id.OUI, id.ProductClass, id.SerialNumber)
			data := func(key string) string {
				b, err := a.store.Data(context.Background(), devID, key)
				if err != nil {
					return ""
				}
				return string(b)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				if up := data("up"); up != "" && data("tc:"+strings.Trim(up, `"`)) != "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no upload completed; store dl=%s up=%s; sessions %+v", data("dl"), data("up"), d.Sessions())
				}
				time.Sleep(20 * time.Millisecond)
			}
			dl, up := strings.Trim(data("dl"), `"`), strings.Trim(data("up"), `"`)
			if got := data("tc:" + dl); got != "0" {
				t.Fatalf("download TransferComplete fault %s", got)
			}
			if got := data("tc:" + up); got != "0" {
				t.Fatalf("upload TransferComplete fault %s", got)
			}
			if v, _ := d.Get(p.Root + "DeviceInfo.SoftwareVersion"); v.Text != "9.9.9" {
				t.Fatalf("software version %q after the upgrade", v.Text)
			}
			list, _, err := a.files.List(context.Background(), store.FileFilter{DeviceID: devID, Source: store.FileFromDevice})
			if err != nil || len(list) != 1 {
				t.Fatalf("device files %+v %v", list, err)
			}
			m := list[0]
			if m.CommandKey != up || m.Type != "1 Vendor Configuration File" || m.Size == 0 {
				t.Fatalf("backup %+v", m)
			}
			_, f, err := a.files.Get(context.Background(), m.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			body, _ := io.ReadAll(f)
			if !strings.Contains(string(body), p.Root+"ManagementServer.PeriodicInformInterval=") {
				t.Fatalf("backup content:\n%s", body)
			}
		})
	}
}

// The engine takes the real file store.
var _ script.Files = (*filestore.Store)(nil)

func httpPut(u, body string) (int, error) {
	req, err := http.NewRequest(http.MethodPut, u, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
