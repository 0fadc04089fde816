package sqlite

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// fleet is a small fleet with known trees for query tests.
type fleet struct {
	db    *DB
	now   time.Time
	devs  map[string]store.Device
	trees map[string]store.ParamTree
	ivals map[string]time.Duration
}

func newFleet(t *testing.T, n int) *fleet {
	t.Helper()
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	f := &fleet{db: db, now: clk.Now(), devs: map[string]store.Device{}, trees: map[string]store.ParamTree{}, ivals: map[string]time.Duration{}}
	for i := range n {
		id := store.DeviceIDFrom("00D0B7", []string{"HomeGW", "RB4011", "hAP"}[i%3], fmt.Sprintf("SN%04d", i))
		last := f.now.Add(-time.Duration(i*7) * time.Minute)
		d := store.Device{ID: id, OUI: "00D0B7", ProductClass: []string{"HomeGW", "RB4011", "hAP"}[i%3],
			SerialNumber: fmt.Sprintf("SN%04d", i), LastInform: last}
		if i%11 == 0 {
			d.LastInform = time.Time{} // never informed
		}
		if i%4 == 0 {
			d.Tags = []string{"even4"}
		}
		if i%6 == 0 {
			d.Tags = append(d.Tags, "six")
		}
		var params []store.Param
		add := func(name, typ, v string) {
			params = append(params, store.ValueParam(name, v, typ, f.now))
		}
		add("Device.DeviceInfo.SoftwareVersion", "string", []string{"7.13", "7.9", "6.49", ""}[i%4])
		add("Device.DeviceInfo.UpTime", "unsignedInt", strconv.Itoa(i*100))
		if i%5 != 0 { // some devices lack the SSID
			add("Device.WiFi.SSID.1.SSID", "string", fmt.Sprintf("net-%d", i%7))
		}
		if i%3 != 2 {
			add("Device.ManagementServer.PeriodicInformInterval", "unsignedInt", strconv.Itoa([]int{300, 3600, 86400}[i%3]))
			enabled := "true"
			if i%9 == 0 {
				enabled = "false"
			}
			add("Device.ManagementServer.PeriodicInformEnable", "boolean", enabled)
		}
		add("Device.X_Odd.Value", "string", []string{"abc", "abd", "b", "10", "9", "x y"}[i%6])
		if err := db.WriteSession(ctx, store.SessionWrite{Device: d, Params: params}); err != nil {
			t.Fatal(err)
		}
		got, err := db.Device(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := db.Params(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		f.devs[id], f.trees[id] = got, tree
		f.ivals[id] = time.Duration(informInterval(tree)) * time.Second
	}
	return f
}

// expect evaluates q by brute force over the whole fleet.
func (f *fleet) expect(q store.DeviceQuery) []string {
	var out []store.Device
	for id, d := range f.devs {
		if f.matches(q, d, f.trees[id]) {
			out = append(out, d)
		}
	}
	sortDevices(out, q.Sort, q.Desc)
	ids := make([]string, len(out))
	for i, d := range out {
		ids[i] = d.ID
	}
	return ids
}

func (f *fleet) matches(q store.DeviceQuery, d store.Device, tree store.ParamTree) bool {
	for _, c := range q.Conds {
		if sf, ok := store.SummaryField(c.Field); ok {
			v := store.DeviceField(d, sf)
			if v == "" || !c.Match(v) {
				return false
			}
			continue
		}
		p, ok := tree.Get(c.Field)
		if !ok || !c.Match(p.Value) {
			return false
		}
	}
	for _, tag := range q.Tags {
		if !slices.Contains(d.Tags, tag) {
			return false
		}
	}
	if !q.InformedAfter.IsZero() && (d.LastInform.IsZero() || !d.LastInform.After(q.InformedAfter)) {
		return false
	}
	if !q.InformedBefore.IsZero() && (d.LastInform.IsZero() || !d.LastInform.Before(q.InformedBefore)) {
		return false
	}
	if q.Online != nil {
		row := store.DeviceRow{Device: d, InformInterval: f.ivals[d.ID]}
		if row.Online(f.now, q.OnlineWindow, q.OnlineFallback) != *q.Online {
			return false
		}
	}
	return true
}

func sortDevices(ds []store.Device, field string, desc bool) {
	key := func(d store.Device) (bool, string, int64) {
		switch field {
		case "", "id":
			return false, "", 0
		case "lastInform":
			return d.LastInform.IsZero(), "", d.LastInform.UnixMilli()
		case "firstInform":
			return d.FirstInform.IsZero(), "", d.FirstInform.UnixMilli()
		case "lastBoot":
			return d.LastBoot.IsZero(), "", d.LastBoot.UnixMilli()
		}
		return false, store.DeviceField(d, field), 0
	}
	slices.SortFunc(ds, func(a, b store.Device) int {
		an, as, ai := key(a)
		bn, bs, bi := key(b)
		c := 0
		switch {
		case an != bn: // NULL first
			if an {
				c = -1
			} else {
				c = 1
			}
		case as != bs:
			c = strings.Compare(as, bs)
		case ai != bi:
			if ai < bi {
				c = -1
			} else {
				c = 1
			}
		default:
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			c = -c
		}
		return c
	})
}

// all pages through q and returns the IDs in order.
func (f *fleet) all(t *testing.T, q store.DeviceQuery) ([]string, int) {
	t.Helper()
	var ids []string
	pages := 0
	for {
		page, err := f.db.QueryDevices(ctx, q)
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		pages++
		for _, r := range page.Devices {
			ids = append(ids, r.ID)
		}
		if page.Next == "" {
			return ids, pages
		}
		if pages > 10000 {
			t.Fatal("endless paging")
		}
		q.Cursor = page.Next
	}
}

func TestQueryDevicesAgainstBruteForce(t *testing.T) {
	f := newFleet(t, 240)
	yes, no := true, false
	queries := map[string]store.DeviceQuery{
		"all":                   {},
		"summary eq":            {Conds: []store.Cond{{Field: "Device.DeviceInfo.SoftwareVersion", Op: store.OpEq, Value: "7.13"}}},
		"summary field ne":      {Conds: []store.Cond{{Field: "softwareVersion", Op: store.OpNe, Value: "7.13"}}},
		"summary prefix":        {Conds: []store.Cond{{Field: "softwareVersion", Op: store.OpPrefix, Value: "7."}}},
		"summary numeric lt":    {Conds: []store.Cond{{Field: "softwareVersion", Op: store.OpLt, Value: "7"}}},
		"summary string gt":     {Conds: []store.Cond{{Field: "productClass", Op: store.OpGt, Value: "HomeGW"}}},
		"id prefix":             {Conds: []store.Cond{{Field: "id", Op: store.OpPrefix, Value: "00D0B7-hAP-"}}},
		"param eq":              {Conds: []store.Cond{{Field: "Device.WiFi.SSID.1.SSID", Op: store.OpEq, Value: "net-3"}}},
		"param ne":              {Conds: []store.Cond{{Field: "Device.WiFi.SSID.1.SSID", Op: store.OpNe, Value: "net-3"}}},
		"param numeric gt":      {Conds: []store.Cond{{Field: "Device.DeviceInfo.UpTime", Op: store.OpGt, Value: "15000"}}},
		"param numeric le":      {Conds: []store.Cond{{Field: "Device.X_Odd.Value", Op: store.OpLe, Value: "9.5"}}},
		"param string lt":       {Conds: []store.Cond{{Field: "Device.X_Odd.Value", Op: store.OpLt, Value: "abd"}}},
		"param prefix":          {Conds: []store.Cond{{Field: "Device.X_Odd.Value", Op: store.OpPrefix, Value: "ab"}}},
		"tag":                   {Tags: []string{"even4"}},
		"two tags":              {Tags: []string{"even4", "six"}},
		"tag and param":         {Tags: []string{"six"}, Conds: []store.Cond{{Field: "Device.DeviceInfo.UpTime", Op: store.OpGe, Value: "3000"}}},
		"informed after":        {InformedAfter: f.now.Add(-5 * time.Hour)},
		"informed before":       {InformedBefore: f.now.Add(-5 * time.Hour)},
		"online per interval":   {Online: &yes},
		"offline per interval":  {Online: &no},
		"online window":         {Online: &yes, OnlineWindow: 2 * time.Hour},
		"sort lastInform":       {Sort: "lastInform"},
		"sort lastInform desc":  {Sort: "lastInform", Desc: true, Tags: []string{"even4"}},
		"sort version desc":     {Sort: "softwareVersion", Desc: true},
		"sort class filtered":   {Sort: "productClass", Conds: []store.Cond{{Field: "Device.WiFi.SSID.1.SSID", Op: store.OpPrefix, Value: "net-1"}}},
		"desc id":               {Desc: true, Conds: []store.Cond{{Field: "Device.X_Odd.Value", Op: store.OpEq, Value: "b"}}},
		"sort by the eq column": {Sort: "softwareVersion", Desc: true, Conds: []store.Cond{{Field: "softwareVersion", Op: store.OpEq, Value: "7.9"}}},
		"serial eq":             {Conds: []store.Cond{{Field: "Device.DeviceInfo.SerialNumber", Op: store.OpEq, Value: "SN0007"}}},
		"sort serial desc":      {Sort: "serialNumber", Desc: true, Tags: []string{"six"}},
		"nothing":               {Conds: []store.Cond{{Field: "Device.Missing.Param", Op: store.OpEq, Value: "x"}}},
	}
	run := func(t *testing.T) {
		for name, q := range queries {
			for _, limit := range []int{1, 7, 1000} {
				for _, budget := range []int{5, 0} {
					t.Run(fmt.Sprintf("%s/limit=%d/budget=%d", name, limit, budget), func(t *testing.T) {
						q := q
						q.Limit, q.ScanBudget, q.Now = limit, budget, f.now
						got, _ := f.all(t, q)
						want := f.expect(q)
						if (len(want) == 0) != (name == "nothing") || (len(want) == len(f.devs) && q.Conds != nil) {
							t.Fatalf("degenerate case: %d of %d devices match", len(want), len(f.devs))
						}
						if !slices.Equal(got, want) {
							t.Fatalf("got %d devices %v\nwant %d %v", len(got), head(got), len(want), head(want))
						}
					})
				}
			}
		}
	}
	both := func(t *testing.T) {
		// A small probe limit makes most conditions dense, so that the
		// ordered walks are tested as well as the probe-driven ones.
		for _, limit := range []int{2000, 15} {
			probeLimit = limit
			t.Run(fmt.Sprintf("probe=%d", limit), run)
		}
		probeLimit = 2000
	}
	t.Run("unpromoted", both)
	for _, p := range []string{"Device.WiFi.SSID.1.SSID", "Device.DeviceInfo.UpTime", "Device.X_Odd.Value"} {
		if _, err := f.db.PromoteParam(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for {
		done, err := f.db.BuildIndex(ctx, 50)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	t.Run("promoted", both)
}

func head(ids []string) []string {
	if len(ids) > 8 {
		return append(ids[:8:8], "…")
	}
	return ids
}

func TestQueryScanBudgetPages(t *testing.T) {
	f := newFleet(t, 100)
	q := store.DeviceQuery{Conds: []store.Cond{{Field: "Device.X_Odd.Value", Op: store.OpEq, Value: "nope"}}, ScanBudget: 30, Limit: 10}
	page, err := f.db.QueryDevices(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Devices) != 0 || page.Next == "" || page.Scanned != 30 {
		t.Fatalf("first page: %d devices, scanned %d, next %q", len(page.Devices), page.Scanned, page.Next)
	}
	_, pages := f.all(t, q)
	if pages != 4 {
		t.Fatalf("%d pages for 100 devices at 30 per page", pages)
	}
}

func TestQueryProjection(t *testing.T) {
	f := newFleet(t, 3)
	page, err := f.db.QueryDevices(ctx, store.DeviceQuery{Params: []string{"Device.WiFi.", "Device.DeviceInfo.UpTime", "Device.Nope"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Devices {
		var names []string
		for _, p := range r.Params {
			names = append(names, p.Name)
		}
		want := []string{"Device.DeviceInfo.UpTime"}
		if _, ok := f.trees[r.ID].Get("Device.WiFi.SSID.1.SSID"); ok {
			want = append(want, "Device.WiFi.SSID.1.SSID")
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: %v, want %v", r.ID, names, want)
		}
		if r.InformInterval != f.ivals[r.ID] {
			t.Errorf("%s: interval %v, want %v", r.ID, r.InformInterval, f.ivals[r.ID])
		}
	}
	page, err = f.db.QueryDevices(ctx, store.DeviceQuery{Params: []string{""}, Limit: 1})
	if err != nil || len(page.Devices[0].Params) != len(f.trees[page.Devices[0].ID]) {
		t.Fatalf("whole tree: %v %v", page.Devices[0].Params, err)
	}
}

func TestQueryRejectsBadInput(t *testing.T) {
	f := newFleet(t, 1)
	for name, q := range map[string]store.DeviceQuery{
		"bad op":          {Conds: []store.Cond{{Field: "id", Op: "~", Value: "x"}}},
		"object path":     {Conds: []store.Cond{{Field: "Device.WiFi.", Op: store.OpEq}}},
		"bad char":        {Conds: []store.Cond{{Field: "Device.Wi Fi", Op: store.OpEq}}},
		"empty segment":   {Conds: []store.Cond{{Field: "Device..X", Op: store.OpEq}}},
		"bad sort":        {Sort: "uptime"},
		"bad cursor":      {Cursor: "!!"},
		"foreign cursor":  {Cursor: encodeCursor(cursor{Sort: "lastInform", ID: "x"})},
		"bad tag":         {Tags: []string{""}},
		"bad projection":  {Params: []string{"Device..x"}},
		"mistyped cursor": {Sort: "softwareVersion", Cursor: encodeCursor(cursor{Sort: "softwareVersion", V: 3, ID: "x"})},
	} {
		if _, err := f.db.QueryDevices(ctx, q); !errorsIs(err, store.ErrInvalid) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// The index follows every change of the tree: values, deletions, the
// interval, and removal with the device.
func TestIndexFollowsTree(t *testing.T) {
	db := openTest(t, Options{})
	id := "00D0B7-X-1"
	addDevice(t, db, id)
	if _, err := db.PromoteParam(ctx, "Device.A.B"); err != nil {
		t.Fatal(err)
	}
	if done, err := db.BuildIndex(ctx, 10); err != nil || !done {
		t.Fatal(done, err)
	}
	count := func(v string) int {
		page, err := db.QueryDevices(ctx, store.DeviceQuery{Conds: []store.Cond{{Field: "Device.A.B", Op: store.OpEq, Value: v}}})
		if err != nil {
			t.Fatal(err)
		}
		if page.Scanned != 0 {
			t.Fatal("promoted query read trees")
		}
		return len(page.Devices)
	}
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.UpdateParams(ctx, id, []store.Param{store.ValueParam("Device.A.B", "1", "string", now),
		store.ValueParam("Device.ManagementServer.PeriodicInformInterval", "600", "unsignedInt", now)}, nil))
	if count("1") != 1 {
		t.Fatal("value not indexed")
	}
	must(db.UpdateParams(ctx, id, []store.Param{store.ValueParam("Device.A.B", "2", "string", now.Add(time.Second))}, nil))
	if count("1") != 0 || count("2") != 1 {
		t.Fatal("index not updated")
	}
	page, _ := db.QueryDevices(ctx, store.DeviceQuery{})
	if page.Devices[0].InformInterval != 600*time.Second {
		t.Fatalf("interval %v", page.Devices[0].InformInterval)
	}
	must(db.UpdateParams(ctx, id, nil, []string{"Device.A."}))
	if count("2") != 0 {
		t.Fatal("deleted parameter still indexed")
	}
	must(db.UpdateParams(ctx, id, []store.Param{store.ValueParam("Device.A.B", "3", "string", now.Add(2*time.Second))}, nil))
	must(db.DeleteDevice(ctx, id))
	var n int
	if err := db.r.QueryRow("SELECT count(*) FROM param_index").Scan(&n); err != nil || n != 0 {
		t.Fatalf("index rows after delete: %d %v", n, err)
	}
	must(db.DemoteParam(ctx, "Device.A.B"))
	if err := db.DemoteParam(ctx, "Device.A.B"); !errorsIs(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := db.PromoteParam(ctx, "Device.DeviceInfo.SoftwareVersion"); !errorsIs(err, store.ErrInvalid) {
		t.Fatal("summary parameter promoted")
	}
}

// A database from before the API migration gets its intervals filled in
// by the index build.
func TestIntervalBackfill(t *testing.T) {
	db := openTest(t, Options{})
	id := "00D0B7-X-2"
	addDevice(t, db, id)
	if err := db.UpdateParams(ctx, id, []store.Param{store.ValueParam("InternetGatewayDevice.ManagementServer.PeriodicInformInterval", "120", "unsignedInt", time.Now())}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.wconn.ExecContext(ctx, "UPDATE devices SET inform_interval = NULL"); err != nil {
		t.Fatal(err)
	}
	if done, err := db.BuildIndex(ctx, 10); err != nil || !done {
		t.Fatal(done, err)
	}
	page, _ := db.QueryDevices(ctx, store.DeviceQuery{})
	if page.Devices[0].InformInterval != 2*time.Minute {
		t.Fatalf("interval %v", page.Devices[0].InformInterval)
	}
}
