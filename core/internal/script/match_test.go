package script_test

import (
	"slices"
	"testing"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/script"
)

// TestEventsAndFilters: which handlers run for which Inform, with event
// codes spelled in any case and spacing, and with device filters.
func TestEventsAndFilters(t *testing.T) {
	a := startACS(t, map[string]string{"a.js": prelude + `
const ran = (name) => (s) => s.store.set("ran", (s.store.get("ran") || []).concat([name]));
provisor.on("0 bootstrap", ran("bootstrap"));
provisor.on(" 1  Boot ", ran("boot"));
provisor.on("m reboot", ran("m-reboot"));
provisor.on("X 000c42  Alarm", ran("vendor"));
provisor.on("X 000C42 alarm", ran("vendor-other-name"));
provisor.on("inform", ran("inform"), {order: -1});
provisor.on("2 PERIODIC", ran("oui"), {oui: "00d0b7"});
provisor.on("2 PERIODIC", ran("oui-other"), {oui: ["001122", "334455"]});
provisor.on("2 PERIODIC", ran("class-list"), {productClass: ["x", "homegw"], manufacturer: "Provisor Labs"});
provisor.on("2 PERIODIC", ran("manufacturer-other"), {manufacturer: "Other"});
provisor.on("2 PERIODIC", ran("model"), {model: "Provisor Test CPE"});
provisor.on("2 PERIODIC", ran("tag"), {tag: ["vip", "gold"]});
provisor.on("2 PERIODIC", ran("where"), {where: {"Device.ManagementServer.PeriodicInformInterval": 3600, "Device.ManagementServer.PeriodicInformEnable": true, "Device.DeviceInfo.SoftwareVersion": ["0.9", "1.0.0"]}});
provisor.on("2 PERIODIC", ran("where-other"), {where: {"Device.ManagementServer.PeriodicInformInterval": 60}});
provisor.on("2 PERIODIC", ran("first"), {order: -5});
provisor.on("X 000C42 Setup", (s) => { s.device.refresh("Device.ManagementServer."); s.device.refresh("Device.DeviceInfo.ModelName"); s.device.tag("gold"); });
`}, acsConfig{})
	c := a.device(t, "SNMATCH")
	cases := []struct {
		events []cwmp.EventCode
		want   []string
	}{
		{[]cwmp.EventCode{"0 BOOTSTRAP", "1 BOOT", "M REBOOT"}, []string{"inform", "bootstrap", "boot", "m-reboot"}},
		{[]cwmp.EventCode{"X 000C42 Alarm"}, []string{"inform", "vendor"}},
		// Before the ACS knows the model, tags and values, only the
		// identity filters can match.
		{[]cwmp.EventCode{"2 PERIODIC"}, []string{"first", "inform", "oui", "class-list"}},
		{[]cwmp.EventCode{"X 000C42 Setup"}, []string{"inform"}},
		{[]cwmp.EventCode{"2 PERIODIC"}, []string{"first", "inform", "oui", "class-list", "model", "tag", "where"}},
	}
	for i, tc := range cases {
		if err := a.store.DeleteData(t.Context(), c.id, "ran"); err != nil && i > 0 {
			t.Fatal(err)
		}
		c.session(tc.events...)
		var got []string
		if v, ok := a.data(t, c, "ran").([]any); ok {
			for _, x := range v {
				got = append(got, x.(string))
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("session %d %v: ran %v, want %v", i+1, tc.events, got, tc.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0}, {"1.0", "1.0.0", -1}, {"1.10", "1.9", 1}, {"6.49.10", "7.1", -1},
		{"7.1rc1", "7.1", -1}, {"7.1beta3", "7.1rc1", -1}, {"7.1", "7.1.1", -1}, {"v2.0", "2.0", 0},
		{"V2.0.1", "2.0", 1}, {"6.49.10 (long-term)", "6.49.10", 0}, {"", "", 0}, {"", "1", -1},
		{"1.0-2", "1.0-10", -1}, {"0001.2", "1.02", 0}, {"99999999999999999999.1", "99999999999999999999.0", 1},
		{"2.0.0-RC1", "2.0.0-rc1", 0}, {"1.2a", "1.2b", -1},
	}
	for _, c := range cases {
		if got := script.CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := script.CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}
