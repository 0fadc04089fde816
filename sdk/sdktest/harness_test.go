package sdktest_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/provisor/provisor/sdk"
	"github.com/provisor/provisor/sdk/sdktest"
)

func TestEventsRunInInformOrderOncePerSession(t *testing.T) {
	var ran []string
	rec := func(name string) sdk.EventFunc {
		return func(ctx context.Context, s sdk.Session) error { ran = append(ran, name); return nil }
	}
	h := sdktest.New(t, &sdk.ServeOpts{ID: "order", Events: sdk.Events{
		"inform": rec("inform"), "1 boot": rec("boot"), "0 BOOTSTRAP": rec("bootstrap"), "x e48d8c Alarm": rec("alarm"),
	}})
	d := sdktest.NewDevice("Acme", "E48D8C", "R1", "S1")
	if err := h.Session(context.Background(), d, "0  BOOTSTRAP", "1 BOOT", "X E48D8C Alarm", "1 BOOT"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"inform", "bootstrap", "boot", "alarm"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	if !slices.Contains(h.Capabilities(), "events") || len(h.Events()) != 4 {
		t.Fatalf("described %v %v", h.Capabilities(), h.Events())
	}
}

func TestDeviceCallsFaultsAndErrors(t *testing.T) {
	h := sdktest.New(t, &sdk.ServeOpts{ID: "calls", Events: sdk.Events{
		sdk.EventBoot: func(ctx context.Context, s sdk.Session) error {
			vals, err := s.GetParameterValues(ctx, "Device.DeviceInfo.")
			if err != nil || len(vals) != 2 {
				return errors.New("bad values")
			}
			if _, err := s.SetParameterValues(ctx, "k1", sdk.String("Device.DeviceInfo.SoftwareVersion", "2")); !sdk.IsFault(err, 9003) {
				return errors.New("want a fault for a read-only parameter")
			}
			n, _, err := s.AddObject(ctx, "Device.X.", "")
			if err != nil || n != 1 {
				return errors.New("AddObject")
			}
			if err := s.Tag(ctx, "seen"); err != nil {
				return err
			}
			p, ok, err := s.Cached(ctx, "Device.DeviceInfo.ProvisioningCode")
			if err != nil || !ok || p.Value != "abc" || p.Writable == nil || !*p.Writable {
				return errors.New("cached")
			}
			return errors.New("deliberate")
		},
	}})
	d := sdktest.NewDevice("Acme", "00AABB", "R1", "S1")
	d.SetParam("Device.DeviceInfo.SoftwareVersion", "1", "string", false)
	d.Set("Device.DeviceInfo.ProvisioningCode", "abc")
	err := h.Session(context.Background(), d, sdk.EventBoot)
	if err == nil || err.Error() != "1 BOOT: deliberate" {
		t.Fatalf("error %v", err)
	}
	if got := d.MethodNames(); !slices.Equal(got, []string{"GetParameterValues", "SetParameterValues", "AddObject"}) {
		t.Fatalf("rpcs %v", got)
	}
	if !slices.Equal(d.Tags(), []string{"seen"}) {
		t.Fatalf("tags %v", d.Tags())
	}
}

func TestFunctionsAndPanics(t *testing.T) {
	h := sdktest.New(t, &sdk.ServeOpts{ID: "fn", Functions: sdk.Functions{
		"double": {Doc: "doubles", Func: func(ctx context.Context, c *sdk.Call) (any, error) {
			var n int
			if err := c.Arg(0, &n); err != nil {
				return nil, err
			}
			return n * 2, nil
		}},
		"reboot": {NeedsSession: true, Func: func(ctx context.Context, c *sdk.Call) (any, error) {
			return nil, c.Session.Reboot(ctx, "r1")
		}},
		"panic": {Func: func(ctx context.Context, c *sdk.Call) (any, error) { panic("boom") }},
	}})
	got, err := h.CallOutside(context.Background(), nil, "double", 21)
	if err != nil || string(got) != "42" {
		t.Fatalf("%s %v", got, err)
	}
	if _, err := h.CallOutside(context.Background(), nil, "reboot"); err == nil {
		t.Fatal("a session function ran without a session")
	}
	d := sdktest.NewDevice("Acme", "00AABB", "R1", "S1")
	if _, err := h.Call(context.Background(), d, "reboot"); err != nil || d.RPCs()[0].Request != "r1" {
		t.Fatalf("%v %+v", err, d.RPCs())
	}
	if _, err := h.CallOutside(context.Background(), nil, "panic"); err == nil {
		t.Fatal("panic not reported")
	}
	var docs []string
	for _, f := range h.Functions() {
		docs = append(docs, f.Name)
	}
	if !slices.Equal(docs, []string{"double", "panic", "reboot"}) {
		t.Fatal(docs)
	}
}

func TestCPERequestsCannotCallTheDevice(t *testing.T) {
	var got string
	h := sdktest.New(t, &sdk.ServeOpts{ID: "tc", CPERequests: sdk.CPERequestFunc(func(ctx context.Context, s sdk.Session, r sdk.CPERequest) error {
		tc := r.(*sdk.TransferComplete)
		got = tc.CommandKey
		_, err := s.GetParameterValues(ctx, "Device.")
		if !errors.Is(err, sdk.ErrNotNow) {
			return errors.New("device call allowed")
		}
		return nil
	})})
	d := sdktest.NewDevice("Acme", "00AABB", "R1", "S1")
	if err := h.CPERequest(context.Background(), d, &sdk.TransferComplete{CommandKey: "k9"}); err != nil || got != "k9" {
		t.Fatalf("%v %q", err, got)
	}
}

func TestEventKey(t *testing.T) {
	for in, want := range map[string]string{
		"0 bootstrap": "0 BOOTSTRAP", " 1  BOOT ": "1 BOOT", "m Reboot": "M REBOOT",
		"x e48d8c Alarm  Raised": "X E48D8C Alarm Raised", "Inform": "inform",
	} {
		if got := sdk.EventKey(in); got != want {
			t.Errorf("EventKey(%q) = %q, want %q", in, got, want)
		}
	}
}
