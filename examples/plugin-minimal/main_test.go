package main

import (
	"context"
	"testing"

	"github.com/provisor/provisor/sdk"
	"github.com/provisor/provisor/sdk/sdktest"
)

func TestBootstrapSetsTheInterval(t *testing.T) {
	h := sdktest.New(t, opts())
	d := sdktest.NewDevice("Acme", "00AABB", "Router", "S1")
	d.SetParam(interval, "86400", "unsignedInt", true)

	if err := h.Session(context.Background(), d, sdk.EventBootstrap, sdk.EventBoot); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Value(interval); got != "3600" {
		t.Fatalf("interval %s, want 3600", got)
	}
	if rpcs := d.RPCs(); len(rpcs) != 1 || rpcs[0].Method != "SetParameterValues" {
		t.Fatalf("rpcs %+v", rpcs)
	}

	// Other sessions are left alone.
	d.ResetRPCs()
	if err := h.Session(context.Background(), d, sdk.EventPeriodic); err != nil || len(d.RPCs()) != 0 {
		t.Fatalf("periodic session: %v, %v", err, d.MethodNames())
	}
}
