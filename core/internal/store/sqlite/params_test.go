package sqlite

import (
	"slices"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/storetest"
)

func paramNames(t store.ParamTree) []string {
	var out []string
	for _, p := range t {
		out = append(out, p.Name)
	}
	return out
}

func TestParams(t *testing.T) {
	db := openTest(t, Options{})
	id := "A-1"
	addDevice(t, db, id)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)

	if tree, err := db.Params(ctx, id); err != nil || len(tree) != 0 {
		t.Fatalf("fresh device: %v, %v", tree, err)
	}
	_, err := db.Params(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, db.UpdateParams(ctx, "nope", []store.Param{{Name: "A"}}, nil), store.ErrNotFound)
	wantErr(t, db.UpdateParams(ctx, id, []store.Param{{Name: ""}}, nil), store.ErrInvalid)

	steps := []struct {
		name      string
		upserts   []store.Param
		deletes   []string
		wantNames []string
		wantWrite bool
	}{
		{
			name: "first write",
			upserts: []store.Param{
				store.ValueParam("Device.DeviceInfo.SoftwareVersion", "7.14", "string", t0),
				store.ValueParam("Device.WiFi.SSID.1.SSID", "home", "string", t0),
				store.ValueParam("Device.WiFi.SSID.2.SSID", "guest", "string", t0),
				store.NameParam("Device.WiFi.SSID.1.", true),
				store.NameParam("Device.WiFi.SSID.2.", true),
			},
			wantNames: []string{"Device.DeviceInfo.SoftwareVersion", "Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.SSID",
				"Device.WiFi.SSID.2.", "Device.WiFi.SSID.2.SSID"},
			wantWrite: true,
		},
		{
			name:      "same values again: no write",
			upserts:   []store.Param{store.ValueParam("Device.WiFi.SSID.1.SSID", "home", "string", t0)},
			wantNames: []string{"Device.DeviceInfo.SoftwareVersion", "Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.2.", "Device.WiFi.SSID.2.SSID"},
		},
		{
			name:      "delete an absent prefix: no write",
			deletes:   []string{"Device.Nope."},
			wantNames: []string{"Device.DeviceInfo.SoftwareVersion", "Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.2.", "Device.WiFi.SSID.2.SSID"},
		},
		{
			name:      "changed value and a firmware upgrade",
			upserts:   []store.Param{store.ValueParam("Device.WiFi.SSID.1.SSID", "home2", "string", t1), store.ValueParam("Device.DeviceInfo.SoftwareVersion", "7.16", "string", t1)},
			wantNames: []string{"Device.DeviceInfo.SoftwareVersion", "Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.2.", "Device.WiFi.SSID.2.SSID"},
			wantWrite: true,
		},
		{
			name:      "delete object",
			deletes:   []string{"Device.WiFi.SSID.2."},
			wantNames: []string{"Device.DeviceInfo.SoftwareVersion", "Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.SSID"},
			wantWrite: true,
		},
	}
	for _, st := range steps {
		before := db.Stats()
		if err := db.UpdateParams(ctx, id, st.upserts, st.deletes); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := db.Stats()
		wrote := after.ParamWrites - before.ParamWrites
		skipped := after.ParamSkips - before.ParamSkips
		if (wrote == 1) != st.wantWrite || wrote+skipped != 1 {
			t.Errorf("%s: writes %d skips %d, want write=%v", st.name, wrote, skipped, st.wantWrite)
		}
		tree, err := db.Params(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(paramNames(tree), st.wantNames) {
			t.Fatalf("%s: names %v, want %v", st.name, paramNames(tree), st.wantNames)
		}
	}

	tree, _ := db.Params(ctx, id)
	p, _ := tree.Get("Device.WiFi.SSID.1.SSID")
	if p.Value != "home2" || !p.ReadAt.Equal(t1) || p.Writable != store.WritableUnknown {
		t.Errorf("SSID = %+v", p)
	}
	if p, _ := tree.Get("Device.WiFi.SSID.1."); p.Writable != store.WritableYes || !p.Object {
		t.Errorf("object = %+v", p)
	}
	sub, err := db.ParamSubtree(ctx, id, "Device.WiFi.")
	if err != nil || !slices.Equal(paramNames(sub), []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.SSID"}) {
		t.Errorf("subtree = %v, %v", paramNames(sub), err)
	}
	// The summary column follows the parameter.
	if d, _ := db.Device(ctx, id); d.SoftwareVersion != "7.16" {
		t.Errorf("promoted software version = %q", d.SoftwareVersion)
	}
}

func TestParamsRealisticRoundTrip(t *testing.T) {
	db := openTest(t, Options{})
	addDevice(t, db, "A-1")
	tree := storetest.Tree(42, time.Now())
	if err := db.UpdateParams(ctx, "A-1", tree, nil); err != nil {
		t.Fatal(err)
	}
	got, err := db.Params(ctx, "A-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(tree) {
		t.Fatalf("%d nodes, want %d", len(got), len(tree))
	}
	for i := range tree {
		if got[i].Name != tree[i].Name || got[i].Value != tree[i].Value || !got[i].ReadAt.Equal(tree[i].ReadAt) {
			t.Fatalf("node %d: %+v != %+v", i, got[i], tree[i])
		}
	}
}

func TestCorruptBlobIsNotOverwritten(t *testing.T) {
	db := openTest(t, Options{})
	addDevice(t, db, "A-1")
	if err := db.write(ctx, "corrupt", func(w *wtx) error {
		_, err := w.exec("INSERT INTO device_params VALUES (1, 1, x'09', 0)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err := db.Params(ctx, "A-1")
	wantErr(t, err, store.ErrCorrupt)
	wantErr(t, db.UpdateParams(ctx, "A-1", []store.Param{{Name: "A"}}, nil), store.ErrCorrupt)
}
