package nbi

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/storetest"
)

// fillDevices stores n devices, from several goroutines so that the
// writer batches. Device i has serial BULK<i>, tag "t<i%100>", and either
// a realistic 300-parameter tree or a few parameters.
func fillDevices(tb testing.TB, e *env, n int, realistic bool) {
	tb.Helper()
	now := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				serial := fmt.Sprintf("BULK%06d", i)
				d := store.Device{ID: store.DeviceIDFrom("488F5A", "RB4011", serial), OUI: "488F5A", ProductClass: "RB4011",
					SerialNumber: serial, LastInform: now.Add(-time.Duration(i%600) * time.Second), Tags: []string{"t" + strconv.Itoa(i%100)}}
				var params []store.Param
				if realistic {
					params = storetest.Tree(uint64(i), now)
				} else {
					params = []store.Param{
						store.ValueParam("Device.DeviceInfo.SoftwareVersion", []string{"7.14.3", "7.15.2", "7.16"}[i%3], "string", now),
						store.ValueParam("Device.DeviceInfo.UpTime", strconv.Itoa(i*10), "unsignedInt", now),
						store.ValueParam("Device.ManagementServer.PeriodicInformInterval", "300", "unsignedInt", now),
					}
				}
				if err := e.db.WriteSession(bg, store.SessionWrite{Device: d, Params: params}); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		tb.Fatal(err)
	}
}

// Queueing a task for 10,000 devices chosen by a filter is one API call
// that takes well under two seconds; all tasks are stored atomically.
func TestBulkTasksByFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 10,000 devices")
	}
	e := newEnv(t)
	const n = 10_000
	start := time.Now()
	fillDevices(t, e, n, false)
	t.Logf("filled %d devices in %v", n, time.Since(start).Round(time.Millisecond))

	// A dry run counts; nothing is stored.
	r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"filter": {"where": ["productClass=RB4011"]}, "kind": "Reboot", "dryRun": true}`)
	if r.status != 200 || string(r.body) != "{\"count\":10000,\"dryRun\":true}\n" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	start = time.Now()
	r = e.do(RoleOperator, "POST", "/api/v1/tasks", `{"filter": {"where": ["productClass=RB4011"]}, "kind": "SetParameterValues",
		"args": {"ParameterList": [{"Name": "Device.ManagementServer.PeriodicInformInterval", "Value": "600"}]}, "expiresIn": "24h"}`)
	took := time.Since(start)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var c struct {
		Count int
		IDs   []int64
	}
	r.json(t, &c)
	if c.Count != n || len(c.IDs) != n {
		t.Fatalf("created %d", c.Count)
	}
	t.Logf("created %d tasks by filter in %v", n, took.Round(time.Millisecond))
	if !raceEnabled && took > 2*time.Second {
		t.Errorf("creating %d tasks took %v, want ≤ 2s", n, took)
	}
	queued, _ := e.db.QueuedTaskCount(bg)
	if queued != n {
		t.Fatalf("%d queued", queued)
	}
	// By tag: 1% of the fleet.
	r = e.do(RoleOperator, "POST", "/api/v1/tasks", `{"filter": {"tags": ["t7"], "where": ["Device.DeviceInfo.UpTime>50000"]}, "kind": "Reboot"}`)
	r.json(t, &c)
	if r.status != 201 || c.Count != 50 {
		t.Fatalf("tag and unindexed filter: %d %s", r.status, r.body)
	}
}

// A filter that matches more devices than a call may address is refused,
// and nothing is stored.
func TestBulkLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBulkDevices = 2 })
	for _, sn := range []string{"L1", "L2", "L3"} {
		e.bootstrap(sn)
	}
	r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"filter": {"where": ["productClass=HomeGW"]}, "kind": "Reboot"}`)
	if r.status != 400 || r.problem(t).InvalidParams[0].Name != "filter" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if q, _ := e.db.QueuedTaskCount(bg); q != 0 {
		t.Fatalf("%d queued after a refused call", q)
	}
	r = e.do(RoleOperator, "POST", "/api/v1/tasks", `{"filter": {"where": ["serialNumber^=L"], "tags": ["none"]}, "kind": "Reboot"}`)
	if r.status != 201 || !strings.Contains(string(r.body), `"count":0`) {
		t.Fatalf("empty match: %d %s", r.status, r.body)
	}
}
