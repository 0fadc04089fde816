package nbi

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// BenchmarkDeviceQueries measures device list latency through the API
// (HTTP on loopback, token check, query, JSON) over a fleet of 100,000
// devices with realistic 300-parameter trees, and reports p50 and p99 per
// filter. PROVISOR_BENCH_DEVICES changes the fleet size.
//
//	go test -run '^$' -bench DeviceQueries -benchtime 300x ./core/internal/nbi
func BenchmarkDeviceQueries(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("PROVISOR_BENCH_DEVICES")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b)
	start := time.Now()
	fillDevices(b, e, n, true)
	b.Logf("filled %d devices in %v", n, time.Since(start).Round(time.Second))
	start = time.Now()
	for _, p := range []string{"Device.WiFi.SSID.1.SSID", "Device.DeviceInfo.UpTime"} {
		if _, err := e.db.PromoteParam(bg, p); err != nil {
			b.Fatal(err)
		}
	}
	for {
		done, err := e.db.BuildIndex(bg, 2000)
		if err != nil {
			b.Fatal(err)
		}
		if done {
			break
		}
	}
	b.Logf("indexed 2 promoted parameters in %v", time.Since(start).Round(time.Millisecond))
	// An SSID that exists, for a selective promoted match.
	page, err := e.db.QueryDevices(bg, store.DeviceQuery{Params: []string{"Device.WiFi.SSID.1.SSID"}, Limit: 1})
	if err != nil || len(page.Devices) == 0 {
		b.Fatal(err)
	}
	ssid := page.Devices[0].Params[0].Value

	cases := []struct{ name, query string }{
		{"all/page100", ""},
		{"summary-eq", "where=" + url.QueryEscape("Device.DeviceInfo.SoftwareVersion=7.16")},
		{"summary-eq-sort-lastInform", "where=" + url.QueryEscape("softwareVersion=7.15.2") + "&sort=-lastInform"},
		{"serial-eq", "where=" + url.QueryEscape(fmt.Sprintf("Device.DeviceInfo.SerialNumber=BULK%06d", n/2))},
		{"tag-1pct", "tag=t42"},
		{"online", "online=true"},
		{"offline", "online=false"},
		{"informed-after", "informedAfter=" + url.QueryEscape(time.Now().Add(-20*time.Minute).Format(time.RFC3339))},
		{"promoted-eq-selective", "where=" + url.QueryEscape("Device.WiFi.SSID.1.SSID="+ssid)},
		{"promoted-numeric-gt", "where=" + url.QueryEscape("Device.DeviceInfo.UpTime>2900000")},
		{"promoted-numeric-lt-1pct", "where=" + url.QueryEscape("Device.DeviceInfo.UpTime<30000")},
		{"tag+promoted-range", "tag=t42&where=" + url.QueryEscape("Device.DeviceInfo.UpTime>1500000")},
		{"summary-ne+promoted", "where=" + url.QueryEscape("softwareVersion!=7.16") + "&where=" + url.QueryEscape("Device.DeviceInfo.UpTime<100000")},
		{"projection-2-params", "params=Device.DeviceInfo.UpTime,Device.WiFi.Radio.1.Channel"},
		{"unindexed-param-page", "where=" + url.QueryEscape("Device.WiFi.Radio.1.Channel=11")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			rows := 0
			for b.Loop() {
				t0 := time.Now()
				r := e.do(RoleViewer, "GET", "/api/v1/devices?limit=100&"+c.query, nil)
				lat = append(lat, time.Since(t0))
				if r.status != 200 {
					b.Fatalf("%d %s", r.status, r.body)
				}
				var l struct{ Devices []apiDevice }
				r.json(b, &l)
				rows = len(l.Devices)
			}
			slices.Sort(lat)
			p := func(q float64) float64 {
				return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(p(0.5), "p50-ms")
			b.ReportMetric(p(0.99), "p99-ms")
			b.ReportMetric(float64(rows), "rows")
		})
	}
}

// BenchmarkCreateTasksByFilter measures one API call that queues a task
// for 10,000 devices chosen by a filter.
func BenchmarkCreateTasksByFilter(b *testing.B) {
	e := newEnv(b)
	fillDevices(b, e, 10_000, false)
	var worst time.Duration
	for b.Loop() {
		t0 := time.Now()
		r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"filter": {"where": ["productClass=RB4011"]}, "kind": "Reboot"}`)
		if r.status != 201 {
			b.Fatalf("%d %s", r.status, r.body)
		}
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
}
