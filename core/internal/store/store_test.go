package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestDeviceIDFrom(t *testing.T) {
	tests := []struct {
		oui, class, serial string
		want               string
	}{
		{"00259E", "HG8245H", "4857544312345678", "00259E-HG8245H-4857544312345678"},
		{"00259E", "", "ABC123", "00259E-ABC123"},
		{"E48D8C", "RB951Ui-2HnD", "6A1B0123", "E48D8C-RB951Ui%2D2HnD-6A1B0123"},
		{"001122", "Home Gateway", "S/N 1", "001122-Home%20Gateway-S%2FN%201"},
		{"001122", "a_b.c~d", "x%y", "001122-a_b.c~d-x%25y"},
		{"001122", "Größe", "1", "001122-Gr%C3%B6%C3%9Fe-1"},
	}
	for _, tt := range tests {
		got := DeviceIDFrom(tt.oui, tt.class, tt.serial)
		if got != tt.want {
			t.Errorf("DeviceIDFrom(%q, %q, %q) = %q, want %q", tt.oui, tt.class, tt.serial, got, tt.want)
		}
		oui, class, serial, err := SplitDeviceID(got)
		if err != nil || oui != tt.oui || class != tt.class || serial != tt.serial {
			t.Errorf("SplitDeviceID(%q) = %q, %q, %q, %v", got, oui, class, serial, err)
		}
	}
	for _, bad := range []string{"nodash", "a-b-c-d", "a-%G1", "a-b%2"} {
		if _, _, _, err := SplitDeviceID(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("SplitDeviceID(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
}

func names(t ParamTree) []string {
	var out []string
	for _, p := range t {
		out = append(out, p.Name)
	}
	return out
}

func TestParamTree(t *testing.T) {
	tree := ParamTree{
		{Name: "Device."}, {Name: "Device.A"}, {Name: "Device.WiFi."}, {Name: "Device.WiFi.SSID.1.SSID"},
		{Name: "Device.WiFi.SSID.10.SSID"}, {Name: "Device.WiFi.SSID.2.SSID"}, {Name: "Device.WiFiX"},
		{Name: "Device.Z"},
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"Device.WiFi.", []string{"Device.WiFi.", "Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.10.SSID", "Device.WiFi.SSID.2.SSID"}},
		{"Device.WiFi.SSID.1", []string{"Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.10.SSID"}},
		{"Device.WiFi.SSID.1.", []string{"Device.WiFi.SSID.1.SSID"}},
		{"Device.Z", []string{"Device.Z"}},
		{"Nope.", nil},
		{"Device.ZZ", nil},
		{"", names(tree)},
	}
	for _, tt := range tests {
		got := tree.Subtree(tt.prefix)
		if !slices.Equal(names(got), tt.want) {
			t.Errorf("Subtree(%q) = %v, want %v", tt.prefix, names(got), tt.want)
		}
		if tt.prefix != "" && cap(got) != len(got) {
			t.Errorf("Subtree(%q): capacity not clipped", tt.prefix)
		}
	}
	if p, ok := tree.Get("Device.WiFiX"); !ok || p.Name != "Device.WiFiX" {
		t.Error("Get existing failed")
	}
	if _, ok := tree.Get("Device.WiFi"); ok {
		t.Error("Get missing succeeded")
	}
}

func TestMergeParams(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	cur := ParamTree{
		{Name: "Device.A", Value: "1", Type: "int", Writable: WritableYes, ReadAt: t0},
		{Name: "Device.B", Value: "b", Type: "string", Writable: WritableNo, ReadAt: t0},
		{Name: "Device.X.", Object: true, Writable: WritableYes},
		{Name: "Device.X.1.", Object: true, Writable: WritableYes},
		{Name: "Device.X.1.V", Value: "v1", Type: "string", Writable: WritableYes, ReadAt: t0},
		{Name: "Device.X.2.", Object: true, Writable: WritableYes},
		{Name: "Device.X.2.V", Value: "v2", Type: "string", Writable: WritableYes, ReadAt: t0},
		{Name: "Device.Y", Value: "y", ReadAt: t1},
	}
	tests := []struct {
		name     string
		upserts  []Param
		deletes  []string
		opt      MergeOptions
		want     ParamTree
		changed  int
		deleted  int
		mustFail bool
	}{
		{name: "nothing", want: cur},
		{
			name:    "same value same time is no change",
			upserts: []Param{ValueParam("Device.A", "1", "int", t0)},
			want:    cur,
		},
		{
			name:    "new value keeps writable",
			upserts: []Param{ValueParam("Device.A", "2", "int", t1)},
			want:    with(cur, Param{Name: "Device.A", Value: "2", Type: "int", Writable: WritableYes, ReadAt: t1}),
			changed: 1,
		},
		{
			name:    "older observation loses",
			upserts: []Param{ValueParam("Device.Y", "old", "string", t0)},
			want:    cur,
		},
		{
			name:    "re-read same value moves ReadAt",
			upserts: []Param{ValueParam("Device.B", "b", "", t1)},
			want:    with(cur, Param{Name: "Device.B", Value: "b", Type: "string", Writable: WritableNo, ReadAt: t1}),
			changed: 1,
		},
		{
			name:    "re-read within resolution is no change",
			upserts: []Param{ValueParam("Device.B", "b", "string", t1)},
			opt:     MergeOptions{ReadAtResolution: time.Hour},
			want:    cur,
		},
		{
			name:    "names keep values",
			upserts: []Param{NameParam("Device.B", true)},
			want:    with(cur, Param{Name: "Device.B", Value: "b", Type: "string", Writable: WritableYes, ReadAt: t0}),
			changed: 1,
		},
		{
			name:    "delete object",
			deletes: []string{"Device.X.1."},
			want:    without(cur, "Device.X.1.", "Device.X.1.V"),
			deleted: 2,
		},
		{
			name:    "refresh subtree keeps what is re-reported",
			upserts: []Param{ValueParam("Device.X.2.V", "v2", "string", t0), NameParam("Device.X.3.", true)},
			deletes: []string{"Device.X.", "Device.X.2."},
			want: ParamTree{cur[0], cur[1], cur[6],
				{Name: "Device.X.3.", Object: true, Writable: WritableYes},
				cur[7]},
			changed: 1,
			deleted: 4,
		},
		{
			name:    "last duplicate wins, inserts sorted",
			upserts: []Param{ValueParam("Device.C", "1", "", t1), ValueParam("Device.C", "2", "", t1)},
			want: append(append(ParamTree{}, cur[:2]...), append(ParamTree{
				{Name: "Device.C", Value: "2", Writable: WritableUnknown, ReadAt: t1}}, cur[2:]...)...),
			changed: 1,
		},
		{
			name:    "delete everything",
			deletes: []string{""},
			want:    ParamTree{},
			deleted: len(cur),
		},
		{name: "empty name", upserts: []Param{{Name: ""}}, mustFail: true},
		{name: "bad writable", upserts: []Param{{Name: "A", Writable: 3}}, mustFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(cur)
			got, res, err := MergeParams(cur, tt.upserts, tt.deletes, tt.opt)
			if tt.mustFail {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(cur, before, sameParam) {
				t.Fatal("cur modified")
			}
			if !slices.EqualFunc(got, tt.want, sameParam) {
				t.Fatalf("tree:\n got %v\nwant %v", got, tt.want)
			}
			if len(res.Changed) != tt.changed || res.Deleted != tt.deleted {
				t.Fatalf("changed %d deleted %d, want %d %d", len(res.Changed), res.Deleted, tt.changed, tt.deleted)
			}
			if res.Dirty() != (tt.changed+tt.deleted > 0) {
				t.Fatal("Dirty wrong")
			}
		})
	}
}

func with(t ParamTree, p Param) ParamTree {
	out := slices.Clone(t)
	for i := range out {
		if out[i].Name == p.Name {
			out[i] = p
		}
	}
	return out
}

func without(t ParamTree, names ...string) ParamTree {
	var out ParamTree
	for _, p := range t {
		if !slices.Contains(names, p.Name) {
			out = append(out, p)
		}
	}
	return out
}

func TestPromote(t *testing.T) {
	var d Device
	ok := Promote(&d, []Param{
		{Name: "Device.DeviceInfo.SoftwareVersion", Value: "7.16"},
		{Name: "InternetGatewayDevice.ManagementServer.ConnectionRequestURL", Value: "http://x"},
		{Name: "Device.DeviceInfo.HardwareVersion", Value: ""},
		{Name: "Other.DeviceInfo.ModelName", Value: "no"},
	})
	if !ok || d.SoftwareVersion != "7.16" || d.ConnectionRequestURL != "http://x" || d.ModelName != "" {
		t.Fatalf("Promote: %v %+v", ok, d)
	}
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		from, to TaskState
		ok       bool
	}{
		{StateQueued, StateRunning, true},
		{StateQueued, StateDone, false},
		{StateRunning, StateWaitingTransfer, true},
		{StateWaitingTransfer, StateDone, true},
		{StateFault, StateQueued, true},
		{StateDone, StateQueued, false},
		{StateDone, StateDone, false},
		{StateCancelled, StateRunning, false},
		{StateExpired, StateQueued, false},
	}
	for _, tt := range tests {
		if got := CanTransition(tt.from, tt.to); got != tt.ok {
			t.Errorf("CanTransition(%s, %s) = %v", tt.from, tt.to, got)
		}
	}
	for from := range transitions {
		if from.Final() {
			t.Errorf("final state %s has transitions", from)
		}
	}
	err := error(&TransitionError{TaskID: 1, From: StateDone, To: StateQueued})
	if !errors.Is(err, ErrIllegalTransition) {
		t.Error("TransitionError is not ErrIllegalTransition")
	}
}
