package sqlite

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

func TestDeviceUpsert(t *testing.T) {
	db := openTest(t, Options{})
	t0 := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	id := store.DeviceIDFrom("E48D8C", "RB4011", "HCT123")

	steps := []struct {
		name string
		in   store.Device
		want store.Device
	}{
		{
			name: "create",
			in: store.Device{ID: id, OUI: "E48D8C", ProductClass: "RB4011", SerialNumber: "HCT123",
				Manufacturer: "MikroTik", SoftwareVersion: "7.14", IP: "10.0.0.1", CWMPVersion: "1.0",
				ConnectionRequestURL: "http://10.0.0.1:7547/", LastInform: t0, LastBootstrap: t0,
				Tags: []string{"new", "lab"}},
			want: store.Device{ID: id, OUI: "E48D8C", ProductClass: "RB4011", SerialNumber: "HCT123",
				Manufacturer: "MikroTik", SoftwareVersion: "7.14", IP: "10.0.0.1", CWMPVersion: "1.0",
				ConnectionRequestURL: "http://10.0.0.1:7547/", FirstInform: t0, LastInform: t0,
				LastBootstrap: t0, Tags: []string{"lab", "new"}},
		},
		{
			name: "update keeps what the session did not learn",
			in:   store.Device{ID: id, SoftwareVersion: "7.16", IP: "10.0.0.2", LastInform: t1, LastBoot: t1, Tags: []string{"lab"}},
			want: store.Device{ID: id, OUI: "E48D8C", ProductClass: "RB4011", SerialNumber: "HCT123",
				Manufacturer: "MikroTik", SoftwareVersion: "7.16", IP: "10.0.0.2", CWMPVersion: "1.0",
				ConnectionRequestURL: "http://10.0.0.1:7547/", FirstInform: t0, LastInform: t1,
				LastBoot: t1, LastBootstrap: t0, Tags: []string{"lab", "new"}},
		},
	}
	for _, st := range steps {
		if err := db.UpsertDevice(ctx, st.in); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := db.Device(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(st.want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", st.name, got, st.want)
		}
	}

	if err := db.RemoveTags(ctx, id, "new", "absent"); err != nil {
		t.Fatal(err)
	}
	if err := db.AddTags(ctx, id, "x", "lab"); err != nil {
		t.Fatal(err)
	}
	if d, _ := db.Device(ctx, id); !slices.Equal(d.Tags, []string{"lab", "x"}) {
		t.Fatalf("tags = %v", d.Tags)
	}

	for _, bad := range []store.Device{{ID: ""}, {ID: "a\nb"}, {ID: "A-1", Tags: []string{""}}} {
		wantErr(t, db.UpsertDevice(ctx, bad), store.ErrInvalid)
	}
	wantErr(t, db.AddTags(ctx, "nope", "x"), store.ErrNotFound)
	wantErr(t, db.AddTags(ctx, id, "bad\x00tag"), store.ErrInvalid)
	_, err := db.Device(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
}

func TestDeviceList(t *testing.T) {
	db := openTest(t, Options{})
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		d := store.Device{
			ID:              fmt.Sprintf("OUI%d-DEV-%03d", i%2, i),
			OUI:             fmt.Sprintf("OUI%d", i%2),
			SoftwareVersion: []string{"1", "2", "3"}[i%3],
			LastInform:      t0.Add(time.Duration(i) * time.Hour),
		}
		if i%5 == 0 {
			d.Tags = []string{"five"}
		}
		if err := db.UpsertDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.DeviceFilter
		want int
	}{
		{"all", store.DeviceFilter{}, 25},
		{"tag", store.DeviceFilter{Tag: "five"}, 5},
		{"tag none", store.DeviceFilter{Tag: "zero"}, 0},
		{"prefix", store.DeviceFilter{IDPrefix: "OUI1-"}, 12},
		{"prefix and tag", store.DeviceFilter{IDPrefix: "OUI0-", Tag: "five"}, 3},
		{"oui", store.DeviceFilter{OUI: "OUI0"}, 13},
		{"software", store.DeviceFilter{SoftwareVersion: "2"}, 8},
		{"informed before", store.DeviceFilter{InformedBefore: t0.Add(10 * time.Hour)}, 10},
		{"informed after", store.DeviceFilter{InformedAfter: t0.Add(10 * time.Hour)}, 14},
		{"window", store.DeviceFilter{InformedAfter: t0.Add(4 * time.Hour), InformedBefore: t0.Add(8 * time.Hour)}, 3},
	}
	for _, tt := range tests {
		for _, pageSize := range []int{1, 4, 100} {
			f := tt.f
			f.Limit = pageSize
			var all []string
			for pages := 0; ; pages++ {
				if pages > 30 {
					t.Fatalf("%s: pagination does not end", tt.name)
				}
				page, next, err := db.Devices(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > pageSize {
					t.Fatalf("%s: page of %d > limit %d", tt.name, len(page), pageSize)
				}
				for _, d := range page {
					all = append(all, d.ID)
				}
				if next == "" {
					break
				}
				f.After = next
			}
			if len(all) != tt.want || !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
				t.Errorf("%s (page %d): got %d devices %v, want %d sorted unique", tt.name, pageSize, len(all), all, tt.want)
			}
		}
	}
	if page, _, _ := db.Devices(ctx, store.DeviceFilter{Tag: "five", Limit: 1}); len(page) != 1 || !slices.Equal(page[0].Tags, []string{"five"}) {
		t.Errorf("tagged device page = %+v", page)
	}
}

func TestDeleteDeviceCascades(t *testing.T) {
	db := openTest(t, Options{})
	id := "A-1"
	at := time.Now()
	err := db.WriteSession(ctx, store.SessionWrite{
		Device:  store.Device{ID: id, LastInform: at, Tags: []string{"t"}},
		Params:  []store.Param{store.ValueParam("Device.A", "1", "int", at)},
		Session: &store.SessionRecord{Started: at},
		Events:  []store.EventRecord{{Code: "1 BOOT", Time: at}},
		Faults:  []store.FaultRecord{{Code: 9002, Message: "x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	must[int64](t)(db.AddTask(ctx, store.Task{DeviceID: id, Kind: "Reboot"}))
	if err := db.SetData(ctx, id, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteDevice(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.DeleteDevice(ctx, id), store.ErrNotFound)
	for _, table := range []string{"devices", "device_tags", "device_params", "sessions", "events", "tasks", "faults", "device_data"} {
		var n int
		if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows left, %v", table, n, err)
		}
	}
}

func TestDeviceExists(t *testing.T) {
	db := openTest(t, Options{})
	steps := []struct {
		name string
		do   func() error
		want bool
	}{
		{"unknown", func() error { return nil }, false},
		{"stored", func() error { return db.UpsertDevice(ctx, store.Device{ID: "D", LastInform: time.Now()}) }, true},
		{"deleted", func() error { return db.DeleteDevice(ctx, "D") }, false},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := db.DeviceExists(ctx, "D")
		if err != nil || got != st.want {
			t.Errorf("%s: DeviceExists = %v, %v; want %v", st.name, got, err, st.want)
		}
	}
}
