package script_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/script/scripttest"
	"github.com/provisor/provisor/core/internal/store"
)

// prelude is put before every test script: "out" records a result in the
// device's store, where the test reads it back.
const prelude = `const provisor = require("provisor");
const out = (s, v) => s.store.set("out", v);
`

// endNotifier stands in for the session engine's end-of-session call
// (hook.Registry.NotifyEnd) until the engine makes it; it runs as the
// last handler of the chain. The script engine ignores a second
// notification of the same session, so the stand-in stays harmless once
// the engine calls NotifyEnd itself.
type endNotifier struct{ hooks *hook.Registry }

func (endNotifier) Name() string { return "test-session-end" }

func (n *endNotifier) Run(ctx context.Context, s hook.Session) error {
	n.hooks.NotifyEnd(ctx, s, hook.Ending{Outcome: "ok"})
	return nil
}

// data reads a JSON value a script stored for the device.
func (a *acs) data(t *testing.T, c *cpe, key string) any {
	t.Helper()
	raw, err := a.store.Data(context.Background(), c.id, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v (%s)", key, err, raw)
	}
	return v
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expectation %s: %v", s, err)
	}
	return v
}

func (a *acs) expectOut(t *testing.T, c *cpe, want string) {
	t.Helper()
	got := a.data(t, c, "out")
	if !reflect.DeepEqual(got, jsonValue(t, want)) {
		g, _ := json.Marshal(got)
		t.Fatalf("out = %s\nwant  %s", g, want)
	}
}

func methods(rs []*scripttest.SessionResult) [][]string {
	out := make([][]string, len(rs))
	for i, r := range rs {
		if m := r.Methods(); len(m) > 0 {
			out[i] = m
		}
	}
	return out
}

// serialFor makes a serial number from a test name.
func serialFor(name string) string {
	var b strings.Builder
	for _, r := range name {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return "SN" + b.String()
}

type apiCase struct {
	name     string
	script   string
	sessions [][]cwmp.EventCode // default: one "1 BOOT" session
	setup    func(a *acs, c *cpe)
	out      string // expected JSON of s.store "out", if not empty
	rpcs     [][]string
	check    func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult)
}

func runAPICase(t *testing.T, tc apiCase, cfg acsConfig) {
	a := startACS(t, map[string]string{"a.js": prelude + tc.script}, cfg)
	c := a.device(t, serialFor(tc.name))
	if tc.setup != nil {
		tc.setup(a, c)
	}
	sessions := tc.sessions
	if sessions == nil {
		sessions = [][]cwmp.EventCode{{cwmp.EventBoot}}
	}
	var res []*scripttest.SessionResult
	for _, ev := range sessions {
		res = append(res, c.session(ev...))
	}
	if errs := a.logs.find("script handler failed"); len(errs) > 0 && tc.check == nil {
		t.Fatalf("script failed: %v", errs)
	}
	if tc.out != "" {
		a.expectOut(t, c, tc.out)
	}
	if tc.rpcs != nil && !reflect.DeepEqual(methods(res), tc.rpcs) {
		t.Fatalf("RPCs %v, want %v", methods(res), tc.rpcs)
	}
	if tc.check != nil {
		tc.check(t, a, c, res)
	}
}

func deviceValue(t *testing.T, c *cpe, name string) string {
	t.Helper()
	p, ok := c.Get(name)
	if !ok {
		t.Fatalf("%s: not on the device", name)
	}
	return p.Value
}

func sentTypes(res *scripttest.SessionResult) map[string]string {
	out := map[string]string{}
	for _, x := range res.Calls {
		if spv, ok := x.Request.(*cwmp.SetParameterValues); ok {
			for _, p := range spv.ParameterList {
				out[p.Name] = string(p.Value.Type) + ":" + p.Value.Text
			}
		}
	}
	return out
}

// TestDeviceAPI calls every operation of the device API from a script,
// through the real session engine, SQLite store and HTTP, against an
// in-memory CPE.
func TestDeviceAPI(t *testing.T) {
	cases := []apiCase{
		{
			name: "get",
			script: `provisor.on("1 BOOT", (s) => out(s, {
				sw: s.device.get("Device.DeviceInfo.SoftwareVersion"),
				key: s.device.get("Device.ManagementServer.ParameterKey"),
				unknown: s.device.get("Device.Nope") === undefined,
				object: s.device.get("Device.DeviceInfo.") === undefined,
			}));`,
			out:  `{"sw":"1.0.0","key":"","unknown":true,"object":true}`,
			rpcs: [][]string{nil},
		},
		{
			name: "refresh subtree",
			script: `provisor.on("1 BOOT", (s) => {
				const n = s.device.refresh("Device.ManagementServer.");
				const iv = s.device.get("Device.ManagementServer.PeriodicInformInterval");
				out(s, {many: n > 5, iv, type: typeof iv, enable: s.device.get("Device.ManagementServer.PeriodicInformEnable")});
			});`,
			out: `{"many":true,"iv":3600,"type":"number","enable":true}`,
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				if m := res[0].Methods(); len(m) < 2 || m[0] != "GetParameterNames" || m[1] != "GetParameterValues" {
					t.Fatalf("RPCs %v", m)
				}
				_ = a.store.Flush(context.Background())
				tree, err := a.store.Params(context.Background(), c.id)
				if err != nil {
					t.Fatal(err)
				}
				if p, ok := tree.Get("Device.ManagementServer.PeriodicInformInterval"); !ok || p.Value != "3600" || p.Writable != store.WritableYes {
					t.Fatalf("stored %+v", p)
				}
			},
		},
		{
			name: "refresh parameter",
			script: `provisor.on("1 BOOT", (s) => {
				out(s, [s.device.refresh("Device.DeviceInfo.UpTime"), s.device.get("Device.DeviceInfo.UpTime")]);
			});`,
			out:  `[1, 3600]`,
			rpcs: [][]string{{"GetParameterValues"}},
		},
		{
			name: "getValues",
			script: `provisor.on("1 BOOT", (s) => {
				const v = s.device.getValues(["Device.DeviceInfo.UpTime", "Device.ManagementServer."]);
				out(s, {up: v["Device.DeviceInfo.UpTime"], en: v["Device.ManagementServer.PeriodicInformEnable"],
					url: v["Device.ManagementServer.ConnectionRequestURL"], pw: v["Device.ManagementServer.ConnectionRequestPassword"],
					one: s.device.getValues("Device.DeviceInfo.SoftwareVersion")});
			});`,
			out:  `{"up":3600,"en":true,"url":"http://127.0.0.1:7547/SNgetValues","pw":"","one":{"Device.DeviceInfo.SoftwareVersion":"1.0.0"}}`,
			rpcs: [][]string{{"GetParameterValues", "GetParameterValues"}},
		},
		{
			name: "getNames",
			script: `provisor.on("1 BOOT", (s) => {
				const ms = s.device.getNames("Device.ManagementServer.", true);
				const info = s.device.getNames("Device.DeviceInfo.", true);
				out(s, {
					interval: ms.find((n) => n.name === "Device.ManagementServer.PeriodicInformInterval").writable,
					sw: info.find((n) => n.name === "Device.DeviceInfo.SoftwareVersion").writable,
					nested: ms.some((n) => n.name.split(".").length > 4),
				});
			});`,
			out:  `{"interval":true,"sw":false,"nested":false}`,
			rpcs: [][]string{{"GetParameterNames", "GetParameterNames"}},
		},
		{
			name: "set typed from the data model",
			script: `provisor.on("1 BOOT", (s) => out(s, s.device.set({
				"Device.ManagementServer.PeriodicInformInterval": 300,
				"Device.ManagementServer.PeriodicInformEnable": false,
				"Device.WiFi.SSID.1.SSID": "office",
				"Device.ManagementServer.PeriodicInformTime": new Date(Date.UTC(2030, 0, 2, 3, 4, 5)),
				"Device.WiFi.Radio.1.Channel": "11",
			}, {parameterKey: "k-1"})));`,
			out:  `0`,
			rpcs: [][]string{{"SetParameterValues"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				want := map[string]string{
					"Device.ManagementServer.PeriodicInformInterval": "unsignedInt:300",
					"Device.ManagementServer.PeriodicInformEnable":   "boolean:false",
					"Device.WiFi.SSID.1.SSID":                        "string:office",
					"Device.ManagementServer.PeriodicInformTime":     "dateTime:2030-01-02T03:04:05Z",
					"Device.WiFi.Radio.1.Channel":                    "unsignedInt:11",
				}
				if got := sentTypes(res[0]); !reflect.DeepEqual(got, want) {
					t.Fatalf("sent %v", got)
				}
				if v := deviceValue(t, c, "Device.ManagementServer.ParameterKey"); v != "k-1" {
					t.Fatalf("ParameterKey %q", v)
				}
				if v := deviceValue(t, c, "Device.ManagementServer.PeriodicInformInterval"); v != "300" {
					t.Fatalf("interval %q", v)
				}
			},
		},
		{
			name: "set typed from the device or the script",
			setup: func(a *acs, c *cpe) {
				c.Define("Device.X_TEST_Level", scripttest.Param{Value: "1", Type: cwmp.TypeInt, Writable: true})
				c.Define("Device.X_TEST_Flag", scripttest.Param{Value: "", Type: cwmp.TypeString, Writable: true})
				c.Define("Device.X_TEST_Count", scripttest.Param{Value: "", Type: cwmp.TypeString, Writable: true})
			},
			script: `provisor.on("1 BOOT", (s) => {
				s.device.refresh("Device.X_TEST_Level");
				s.device.set({
					"Device.X_TEST_Level": "5",
					"Device.X_TEST_Flag": true,
					"Device.X_TEST_Count": {value: 7, type: "unsignedInt"},
				});
			});`,
			rpcs: [][]string{{"GetParameterValues", "SetParameterValues"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				want := map[string]string{"Device.X_TEST_Level": "int:5", "Device.X_TEST_Flag": "boolean:true", "Device.X_TEST_Count": "unsignedInt:7"}
				if got := sentTypes(res[0]); !reflect.DeepEqual(got, want) {
					t.Fatalf("sent %v", got)
				}
			},
		},
		{
			name: "set refuses a value of the wrong type",
			script: `provisor.on("1 BOOT", (s) => {
				const msgs = [];
				for (const v of ["soon", -1, 1.5, {value: 1, type: "float"}]) {
					try { s.device.set({"Device.ManagementServer.PeriodicInformInterval": v}); } catch (e) { msgs.push(e.name); }
				}
				out(s, msgs);
			});`,
			out:  `["TypeError","TypeError","TypeError","TypeError"]`,
			rpcs: [][]string{nil},
		},
		{
			name: "CPE fault caught",
			script: `provisor.on("1 BOOT", (s) => {
				try {
					s.device.set({"Device.DeviceInfo.SoftwareVersion": "2.0", "Device.ManagementServer.PeriodicInformInterval": 60});
					out(s, "no fault");
				} catch (e) {
					out(s, {fault: e instanceof provisor.CwmpFault, error: e instanceof Error, name: e.name, code: e.code,
						method: e.method, params: e.parameters.map((p) => [p.name, p.code])});
				}
				s.device.set({"Device.ManagementServer.PeriodicInformInterval": 120});
			});`,
			out:  `{"fault":true,"error":true,"name":"CwmpFault","code":9003,"method":"SetParameterValues","params":[["Device.DeviceInfo.SoftwareVersion",9008]]}`,
			rpcs: [][]string{{"SetParameterValues", "SetParameterValues"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				if v := deviceValue(t, c, "Device.ManagementServer.PeriodicInformInterval"); v != "120" {
					t.Fatalf("interval %q: the session did not go on after the fault", v)
				}
			},
		},
		{
			name: "objects",
			script: `provisor.on("1 BOOT", (s) => {
				const n = s.device.addObject("Device.NAT.PortMapping.", {parameterKey: "add"});
				s.device.set({["Device.NAT.PortMapping." + n + ".Description"]: "web"});
				out(s, {n, deleted: s.device.deleteObject("Device.NAT.PortMapping.1")});
			});`,
			out:  `{"n":2,"deleted":0}`,
			rpcs: [][]string{{"AddObject", "SetParameterValues", "DeleteObject"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				if v := deviceValue(t, c, "Device.NAT.PortMapping.2.Description"); v != "web" {
					t.Fatalf("description %q", v)
				}
				if _, ok := c.Get("Device.NAT.PortMapping.1.Description"); ok {
					t.Fatal("instance 1 still there")
				}
				if x := res[0].Calls[2].Request.(*cwmp.DeleteObject); x.ObjectName != "Device.NAT.PortMapping.1." {
					t.Fatalf("DeleteObject %q", x.ObjectName)
				}
			},
		},
		{
			name: "attributes",
			script: `provisor.on("1 BOOT", (s) => {
				s.device.setAttributes({
					"Device.DeviceInfo.UpTime": {notification: 2},
					"Device.ManagementServer.PeriodicInformInterval": {accessList: ["Subscriber"]},
				});
				out(s, s.device.getAttributes(["Device.DeviceInfo.UpTime", "Device.ManagementServer.PeriodicInformInterval"]));
			});`,
			out:  `{"Device.DeviceInfo.UpTime":{"notification":2,"accessList":[]},"Device.ManagementServer.PeriodicInformInterval":{"notification":0,"accessList":["Subscriber"]}}`,
			rpcs: [][]string{{"SetParameterAttributes", "GetParameterAttributes"}},
		},
		{
			name: "download and its TransferComplete",
			script: `provisor.on("2 PERIODIC", (s) => {
				s.store.set("dl", s.device.download({fileType: "1 Firmware Upgrade Image", url: "http://files.test/fw-2.0.1.bin", fileSize: 1234, targetFileName: "fw.bin"}));
			});
			provisor.on("transferComplete", (s, tc) => s.store.set("tc", tc));
			provisor.on("M Download", (s) => out(s, {key: s.commandKey("M Download"), events: s.events, tc: s.store.get("tc").commandKey,
				sw: s.device.get("Device.DeviceInfo.SoftwareVersion")}));`,
			sessions: [][]cwmp.EventCode{{cwmp.EventPeriodic}, {}},
			rpcs:     [][]string{{"Download"}, nil},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				dl := a.data(t, c, "dl").(map[string]any)
				key, _ := dl["commandKey"].(string)
				if dl["status"] != 1.0 || key == "" {
					t.Fatalf("download result %v", dl)
				}
				d := res[0].Calls[0].Request.(*cwmp.Download)
				if d.URL != "http://files.test/fw-2.0.1.bin" || d.FileSize != 1234 || d.TargetFileName != "fw.bin" || d.CommandKey != key {
					t.Fatalf("Download sent %+v", d)
				}
				tc := a.data(t, c, "tc").(map[string]any)
				if tc["commandKey"] != key || tc["faultCode"] != 0.0 || tc["autonomous"] != false {
					t.Fatalf("transferComplete %v", tc)
				}
				a.expectOut(t, c, `{"key":"`+key+`","events":["M Download","1 BOOT","7 TRANSFER COMPLETE"],"tc":"`+key+`","sw":"2.0.1"}`)
			},
		},
		{
			name: "upload",
			script: `provisor.on("2 PERIODIC", (s) => {
				s.store.set("up", s.device.upload({fileType: "1 Vendor Configuration File", url: "http://files.test/up/cfg", commandKey: "backup-1"}));
			});
			provisor.on("transferComplete", (s, tc) => out(s, [tc.commandKey, tc.faultCode, tc.faultString]));`,
			sessions: [][]cwmp.EventCode{{cwmp.EventPeriodic}, {}},
			setup: func(a *acs, c *cpe) {
				c.TransferFault = func(string, string) cwmp.FaultStruct {
					return cwmp.FaultStruct{FaultCode: cwmp.FaultUploadFailure, FaultString: "disk full"}
				}
			},
			out:  `["backup-1", 9011, "disk full"]`,
			rpcs: [][]string{{"Upload"}, nil},
		},
		{
			name: "reboot",
			script: `provisor.on("2 PERIODIC", (s) => s.store.set("rk", s.device.reboot()));
			provisor.on("M Reboot", (s) => out(s, {match: s.commandKey("M Reboot") === s.store.get("rk"), events: s.events}));`,
			sessions: [][]cwmp.EventCode{{cwmp.EventPeriodic}, {}},
			out:      `{"match":true,"events":["1 BOOT","M Reboot"]}`,
			rpcs:     [][]string{{"Reboot"}, nil},
		},
		{
			name:     "factoryReset",
			script:   `provisor.on("2 PERIODIC", (s) => s.device.factoryReset()); provisor.on("0 BOOTSTRAP", (s) => out(s, s.events));`,
			sessions: [][]cwmp.EventCode{{cwmp.EventPeriodic}, {}},
			out:      `["0 BOOTSTRAP","1 BOOT"]`,
			rpcs:     [][]string{{"FactoryReset"}, nil},
		},
		{
			name: "scheduleInform",
			script: `provisor.on("1 BOOT", (s) => {
				let err;
				try { s.device.scheduleInform(0); } catch (e) { err = e.name; }
				out(s, [s.device.scheduleInform(60, "later"), err]);
			});`,
			out:  `["later","RangeError"]`,
			rpcs: [][]string{{"ScheduleInform"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				if r := res[0].Calls[0].Request.(*cwmp.ScheduleInform); r.DelaySeconds != 60 || r.CommandKey != "later" {
					t.Fatalf("sent %+v", r)
				}
			},
		},
		{
			name: "tags on a new device",
			script: `provisor.on("0 BOOTSTRAP", (s) => {
				s.device.tag("fibre"); s.device.tag("vip"); s.device.untag("fibre"); s.device.untag("never-set");
				out(s, {tags: s.device.tags, vip: s.device.hasTag("vip"), fibre: s.device.hasTag("fibre"), isNew: s.device.isNew});
			});
			provisor.on("2 PERIODIC", (s) => out(s, s.device.tags), {tag: "vip"});`,
			sessions: [][]cwmp.EventCode{{cwmp.EventBootstrap}},
			out:      `{"tags":["vip"],"vip":true,"fibre":false,"isNew":true}`,
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				d, err := a.store.Device(context.Background(), c.id)
				if err != nil || !slices.Equal(d.Tags, []string{"vip"}) || d.FirstInform.IsZero() {
					t.Fatalf("stored device %+v %v", d, err)
				}
				c.session(cwmp.EventPeriodic)
				a.expectOut(t, c, `["vip"]`)
			},
		},
		{
			name: "store across sessions",
			script: `provisor.on("1 BOOT", (s) => s.store.set("cfg", {a: 1, list: [1, "x"], nested: {ok: true}}));
			provisor.on("2 PERIODIC", (s) => {
				const cfg = s.store.get("cfg");
				s.store.delete("cfg");
				out(s, {cfg, none: s.store.get("nope") === undefined, gone: s.store.get("cfg") === undefined});
			});`,
			sessions: [][]cwmp.EventCode{{cwmp.EventBoot}, {cwmp.EventPeriodic}},
			out:      `{"cfg":{"a":1,"list":[1,"x"],"nested":{"ok":true}},"none":true,"gone":true}`,
		},
		{
			name: "session data",
			script: `provisor.on("4 value change", (s) => out(s, {
				id: s.id.length > 8, event: s.event, events: s.events,
				sw: s.inform["Device.DeviceInfo.SoftwareVersion"], cru: typeof s.inform["Device.ManagementServer.ConnectionRequestURL"],
				dev: [s.device.id, s.device.oui, s.device.productClass, s.device.serialNumber, s.device.manufacturer, s.device.root, s.device.isNew, s.device.cwmpVersion],
				noKey: s.commandKey("M Reboot") === undefined,
			}));`,
			sessions: [][]cwmp.EventCode{{cwmp.EventValueChange, cwmp.EventPeriodic}},
			out:      `{"id":true,"event":"4 value change","events":["4 VALUE CHANGE","2 PERIODIC"],"sw":"1.0.0","cru":"string","dev":["00D0B7-HomeGW-SNsessiondata","00D0B7","HomeGW","SNsessiondata","Provisor Labs","Device.",true,"1.2"],"noKey":true}`,
		},
		{
			name: "requestDownload",
			setup: func(a *acs, c *cpe) {
				c.QueueRequest(&cwmp.RequestDownload{FileType: cwmp.FileFirmware, FileTypeArg: []cwmp.ArgStruct{{Name: "Version", Value: "2.0"}}})
			},
			script:   `provisor.on("requestDownload", (s, req) => out(s, {req, up: s.device.getValues("Device.DeviceInfo.UpTime")["Device.DeviceInfo.UpTime"]}));`,
			sessions: [][]cwmp.EventCode{{cwmp.EventRequestDownload}},
			out:      `{"req":{"fileType":"1 Firmware Upgrade Image","args":{"Version":"2.0"}},"up":3600}`,
			rpcs:     [][]string{{"GetParameterValues"}},
		},
		{
			name: "autonomous transfer",
			setup: func(a *acs, c *cpe) {
				c.QueueRequest(&cwmp.AutonomousTransferComplete{AnnounceURL: "http://a", TransferURL: "http://t/f.bin", IsDownload: true, FileType: cwmp.FileFirmware, FileSize: 99})
			},
			script:   `provisor.on("transferComplete", (s, tc) => out(s, [tc.autonomous, tc.transferURL, tc.isDownload, tc.fileSize, tc.faultCode]));`,
			sessions: [][]cwmp.EventCode{{cwmp.EventAutonomousTransferComplete}},
			out:      `[true, "http://t/f.bin", true, 99, 0]`,
		},
		{
			name: "fault handler",
			script: `provisor.on("1 BOOT", (s) => { s.device.set({"Device.DeviceInfo.SoftwareVersion": "x"}); });
			provisor.on("fault", (s, f) => out(s, {code: f.code, method: f.method, isFault: f instanceof provisor.CwmpFault,
				param: f.parameters[0].name, up: s.device.getValues("Device.DeviceInfo.UpTime")["Device.DeviceInfo.UpTime"]}));`,
			out:  `{"code":9003,"method":"SetParameterValues","isFault":true,"param":"Device.DeviceInfo.SoftwareVersion","up":3600}`,
			rpcs: [][]string{{"SetParameterValues", "GetParameterValues"}},
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				if errs := a.logs.find("script handler failed"); len(errs) != 1 || errs[0]["script"] != "a.js:3:44" {
					t.Fatalf("uncaught fault logged as %v", errs)
				}
			},
		},
		{
			name: "version helpers",
			script: `provisor.on("1 BOOT", (s) => {
				const v = provisor.version;
				out(s, [v.compare("6.49.10", "7.1"), v.compare("7.10", "7.9"), v.compare("v2.0", "2.0"), v.gte("7.1", "7.1rc2"),
					v.lt("7.1beta3", "7.1rc1"), v.gt("1.0.1", "1.0"), v.lte("1.0", "1.0"), v.eq("6.49.10 (long-term)", "6.49.10")]);
			});`,
			out: `[-1, 1, 0, true, true, true, true, true]`,
		},
		{
			name: "log",
			script: `provisor.log.info("loaded", {file: __filename});
			provisor.on("1 BOOT", (s) => {
				s.log.info("hello", {n: 1, obj: {a: 2}});
				console.log("c", {x: 1}, 2);
				require("provisor/log").warn("careful");
			});`,
			check: func(t *testing.T, a *acs, c *cpe, res []*scripttest.SessionResult) {
				hello := a.logs.find("hello")
				if len(hello) != 1 || hello[0]["script"] != "a.js:5" || hello[0]["event"] != "1 BOOT" || hello[0]["n"] != "1" ||
					hello[0]["obj"] != `{"a":2}` || hello[0]["device"] != c.id || hello[0]["session"] == "" {
					t.Fatalf("hello: %v", hello)
				}
				if l := a.logs.find(`c {"x":1} 2`); len(l) != 1 || l[0]["level"] != "INFO" {
					t.Fatalf("console: %v", l)
				}
				if l := a.logs.find("careful"); len(l) != 1 || l[0]["level"] != "WARN" {
					t.Fatalf("provisor/log: %v", l)
				}
				if l := a.logs.find("loaded"); len(l) != 1 || l[0]["file"] != "a.js" || l[0]["script"] != "a.js:3" {
					t.Fatalf("load-time log: %v", l)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runAPICase(t, tc, acsConfig{})
		})
	}
}

// TestSessionEnd runs "session.end" handlers: no device access, but the
// store and what the session learned are there.
func TestSessionEnd(t *testing.T) {
	cfg := acsConfig{}
	en := &endNotifier{}
	cfg.after = []hook.Handler{en}
	a := startACS(t, map[string]string{"a.js": prelude + `
provisor.on("session.end", (s, end) => {
	let msg;
	try { s.device.getValues("Device.DeviceInfo.UpTime"); } catch (e) { msg = e.message; }
	out(s, {outcome: end.outcome, errors: end.errors.length, msg, sw: s.device.get("Device.DeviceInfo.SoftwareVersion"),
		up: s.device.get("Device.DeviceInfo.UpTime")});
});
provisor.on("1 BOOT", (s) => s.device.refresh("Device.DeviceInfo.UpTime"));
`}, cfg)
	en.hooks = a.hooks
	c := a.device(t, "SNEND")
	c.session(cwmp.EventBoot)
	a.expectOut(t, c, `{"outcome":"ok","errors":0,"msg":"s.device.getValues: the device cannot be called from a \"session.end\" handler: the session is over","sw":"1.0.0","up":3600}`)
	if n := a.eng.LiveSessions(); n != 0 {
		t.Fatalf("%d sessions still held after their end", n)
	}
}

// TestFaultFromAnotherHandler: a fault that a handler before the scripts
// (a plugin, say) provoked reaches the scripts' fault handlers, which can
// still call the device.
func TestFaultFromAnotherHandler(t *testing.T) {
	plugin := &faultingPlugin{}
	a := startACS(t, map[string]string{"a.js": prelude + `
provisor.on("fault", (s, f) => out(s, [f.code, f.method, s.device.refresh("Device.DeviceInfo.UpTime")]));
`}, acsConfig{})
	plugin.eng = a.eng
	a.hooks.Register(hook.StagePlugins, plugin)
	c := a.device(t, "SNPF")
	res := c.session(cwmp.EventPeriodic)
	a.expectOut(t, c, `[9005, "GetParameterValues", 1]`)
	if !slices.Equal(res.Methods(), []string{"GetParameterValues", "GetParameterValues"}) {
		t.Fatalf("RPCs %v", res.Methods())
	}
}

// faultingPlugin asks for a name the device does not have and reports the
// fault the way the session engine's NotifyFault does.
type faultingPlugin struct{ eng *script.Engine }

func (*faultingPlugin) Name() string { return "faulting-plugin" }

func (p *faultingPlugin) Run(ctx context.Context, s hook.Session) error {
	req := &cwmp.GetParameterValues{ParameterNames: []string{"Device.X_NOPE"}}
	_, err := s.Call(ctx, req)
	var f *cwmp.Fault
	if errors.As(err, &f) {
		p.eng.OnFault(ctx, s, req, f)
		return nil
	}
	return err
}

func TestPluginModule(t *testing.T) {
	a := startACS(t, map[string]string{"a.js": prelude + `
const demo = require("provisor/x/demo");
let missing;
try { require("provisor/x/absent"); } catch (e) { missing = e.message; }
provisor.on("1 BOOT", (s) => {
	let failed;
	try { demo.fail(); } catch (e) { failed = e.message; }
	out(s, {doubled: demo.double(21), echo: demo.echo({a: [1, "b"]}, null), failed, missing, session: demo.whoami()});
});
`}, acsConfig{})
	// Modules registered after the bundle loaded are found by runtimes
	// made later; register and reload, as the plugin host will.
	err := a.eng.RegisterModule("demo", map[string]script.ModuleFunc{
		"double": func(_ context.Context, c script.ModuleCall) (any, error) { return c.Args[0].(float64) * 2, nil },
		"echo":   func(_ context.Context, c script.ModuleCall) (any, error) { return c.Args, nil },
		"fail": func(context.Context, script.ModuleCall) (any, error) {
			return nil, errors.New("no firmware for this model")
		},
		"whoami": func(_ context.Context, c script.ModuleCall) (any, error) { return c.Session.Device().ID, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.eng.Load(); err != nil {
		t.Fatal(err)
	}
	c := a.device(t, "SNPLUG")
	c.session(cwmp.EventBoot)
	a.expectOut(t, c, `{"doubled":42,"echo":[{"a":[1,"b"]},null],"failed":"provisor/x/demo.fail: no firmware for this model",
		"missing":"cannot find module \"provisor/x/absent\": no plugin providing script functions named \"absent\" is loaded","session":"00D0B7-HomeGW-SNPLUG"}`)
	if err := a.eng.RegisterModule("Bad Name", nil); err == nil {
		t.Fatal("bad module name accepted")
	}
}
