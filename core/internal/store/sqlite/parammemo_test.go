package sqlite

import (
	"errors"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// TestParamMemo checks the shortcut that skips reading a device's tree for
// a periodic session reporting unchanged values: every step is a session
// write on a real database, followed by what the stored tree must hold.
func TestParamMemo(t *testing.T) {
	const res = 10 * time.Minute
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now, ReadAtResolution: res})
	t0 := clk.Now()
	inform := func(at time.Time, sw, ip string) []store.Param {
		return []store.Param{
			store.ValueParam("Device.DeviceInfo.SoftwareVersion", sw, "xsd:string", at),
			store.ValueParam("Device.IP.Interface.1.IPv4Address.1.IPAddress", ip, "xsd:string", at),
			store.ValueParam("Device.ManagementServer.ParameterKey", "", "xsd:string", at),
		}
	}
	session := func(t *testing.T, id string, params []store.Param, deletes ...string) {
		t.Helper()
		err := db.WriteSession(ctx, store.SessionWrite{Device: store.Device{ID: id, LastInform: t0},
			Params: params, DeleteParamPrefixes: deletes})
		if err != nil {
			t.Fatal(err)
		}
	}
	get := func(t *testing.T, id, name string) store.Param {
		t.Helper()
		tree := must[store.ParamTree](t)(db.Params(ctx, id))
		p, ok := tree.Get(name)
		if !ok {
			t.Fatalf("%s: %s missing from %v", id, name, tree)
		}
		return p
	}
	memoSkips := func() uint64 { return db.Stats().ParamMemoSkips }
	const sw, ip = "Device.DeviceInfo.SoftwareVersion", "Device.IP.Interface.1.IPv4Address.1.IPAddress"

	steps := []struct {
		name     string
		do       func(t *testing.T)
		memoSkip bool // the step's merge was decided without reading the tree
		check    func(t *testing.T)
	}{
		{"first inform stores the values", func(t *testing.T) { session(t, "d1", inform(t0, "1.0", "10.0.0.1")) }, false,
			func(t *testing.T) {
				if p := get(t, "d1", sw); p.Value != "1.0" || !p.ReadAt.Equal(t0) {
					t.Fatalf("%+v", p)
				}
			}},
		{"the same values within the resolution skip", func(t *testing.T) {
			session(t, "d1", inform(t0.Add(time.Minute), "1.0", "10.0.0.1"))
		}, true, func(t *testing.T) {
			if p := get(t, "d1", sw); !p.ReadAt.Equal(t0) {
				t.Fatalf("readAt moved within the resolution: %+v", p)
			}
		}},
		{"again, in another order", func(t *testing.T) {
			p := inform(t0.Add(2*time.Minute), "1.0", "10.0.0.1")
			p[0], p[2] = p[2], p[0]
			session(t, "d1", p)
		}, true, nil},
		{"a changed value is stored", func(t *testing.T) { session(t, "d1", inform(t0.Add(3*time.Minute), "1.0", "10.0.0.2")) }, false,
			func(t *testing.T) {
				if p := get(t, "d1", ip); p.Value != "10.0.0.2" || !p.ReadAt.Equal(t0.Add(3*time.Minute)) {
					t.Fatalf("%+v", p)
				}
			}},
		{"the new values skip in turn", func(t *testing.T) { session(t, "d1", inform(t0.Add(4*time.Minute), "1.0", "10.0.0.2")) }, true, nil},
		{"a changed type is stored", func(t *testing.T) {
			p := inform(t0.Add(5*time.Minute), "1.0", "10.0.0.2")
			p[0].Type = "xsd:token"
			session(t, "d1", p)
		}, false, func(t *testing.T) {
			if p := get(t, "d1", sw); p.Type != "xsd:token" {
				t.Fatalf("%+v", p)
			}
		}},
		{"once the resolution has passed readAt moves", func(t *testing.T) {
			p := inform(t0.Add(res+5*time.Minute), "1.0", "10.0.0.2")
			p[0].Type = "xsd:token"
			session(t, "d1", p)
		}, false, func(t *testing.T) {
			if p := get(t, "d1", sw); !p.ReadAt.Equal(t0.Add(res + 5*time.Minute)) {
				t.Fatalf("%+v", p)
			}
		}},
		{"a merge of another kind is applied", func(t *testing.T) {
			// A SetParameterValues result for an Inform parameter.
			set := store.ValueParam(ip, "10.9.9.9", "xsd:string", t0.Add(res+6*time.Minute))
			set.SetAt, set.Writable = set.ReadAt, store.WritableYes
			if err := db.UpdateParams(ctx, "d1", []store.Param{set}, nil); err != nil {
				t.Fatal(err)
			}
		}, false, nil},
		{"after it, the old values are stored again", func(t *testing.T) {
			p := inform(t0.Add(res+7*time.Minute), "1.0", "10.0.0.2")
			p[0].Type = "xsd:token"
			session(t, "d1", p)
		}, false, func(t *testing.T) {
			if p := get(t, "d1", ip); p.Value != "10.0.0.2" {
				t.Fatalf("%+v", p)
			}
		}},
		{"deleting the subtree under the values", func(t *testing.T) {
			if err := db.UpdateParams(ctx, "d1", nil, []string{"Device.IP."}); err != nil {
				t.Fatal(err)
			}
		}, false, nil},
		{"brings the deleted value back", func(t *testing.T) {
			p := inform(t0.Add(res+8*time.Minute), "1.0", "10.0.0.2")
			p[0].Type = "xsd:token"
			session(t, "d1", p)
		}, false, func(t *testing.T) { get(t, "d1", ip) }},
		{"another device informs twice", func(t *testing.T) {
			session(t, "d2", inform(t0, "2.0", "10.0.1.1"))
			session(t, "d2", inform(t0.Add(time.Minute), "2.0", "10.0.1.1"))
		}, true, nil},
		{"a device deleted and made again", func(t *testing.T) {
			if err := db.DeleteDevice(ctx, "d2"); err != nil {
				t.Fatal(err)
			}
			// SQLite may hand the new row the old row ID.
			session(t, "d2", inform(t0.Add(2*time.Minute), "2.0", "10.0.1.1"))
		}, false, func(t *testing.T) {
			if p := get(t, "d2", sw); p.Value != "2.0" {
				t.Fatalf("%+v", p)
			}
		}},
		{"an operation rolled back leaves no memo", func(t *testing.T) {
			session(t, "d3", inform(t0, "3.0", "10.0.2.1"))
			boom := errors.New("boom")
			err := db.write(ctx, "failing merge", func(w *wtx) error {
				rid, err := w.rid("d3")
				if err != nil {
					return err
				}
				if err := w.mergeParams(rid, "d3", inform(t0.Add(time.Minute), "3.1", "10.0.2.1"), nil); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err %v", err)
			}
			// The tree still holds 3.0, so 3.1 must be written.
			session(t, "d3", inform(t0.Add(2*time.Minute), "3.1", "10.0.2.1"))
		}, false, func(t *testing.T) {
			if p := get(t, "d3", sw); p.Value != "3.1" {
				t.Fatalf("%+v", p)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := memoSkips()
			st.do(t)
			if got := memoSkips() > before; got != st.memoSkip {
				t.Errorf("decided without reading the tree: %v, want %v", got, st.memoSkip)
			}
			if st.check != nil {
				st.check(t)
			}
		})
	}
}

// TestParamMemoExactReadAt: with the default exact read times, every
// re-read moves readAt, so nothing is skipped.
func TestParamMemoExactReadAt(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	t0 := clk.Now()
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Second)
		err := db.WriteSession(ctx, store.SessionWrite{Device: store.Device{ID: "d", LastInform: at},
			Params: []store.Param{store.ValueParam("Device.DeviceInfo.SoftwareVersion", "1.0", "xsd:string", at)}})
		if err != nil {
			t.Fatal(err)
		}
		tree := must[store.ParamTree](t)(db.Params(ctx, "d"))
		if p, _ := tree.Get("Device.DeviceInfo.SoftwareVersion"); !p.ReadAt.Equal(at) {
			t.Fatalf("session %d: readAt %v, want %v", i, p.ReadAt, at)
		}
	}
	if s := db.Stats(); s.ParamMemoSkips != 0 || s.ParamWrites != 3 {
		t.Fatalf("%s", s)
	}
}
