package server_test

import (
	"context"
	"slices"
	"testing"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
)

// A profile's MaxCWMPVersion caps the version negotiated with the devices
// it matches, and the version handlers see and the store records.
func TestProfileMaxCWMPVersion(t *testing.T) {
	cases := []struct {
		name       string
		ns         string
		supported  string // the Inform's SupportedCWMPVersions
		max        string // the profile's cap; "" for none
		wantUse    string // InformResponse's UseCWMPVersion
		wantStored string
	}{
		{"1.4 CPE capped at 1.0", cwmp.NS12, "1.0,1.1,1.2,1.3,1.4", "1.0", "1.0", "1.0"},
		{"cap between offered versions", cwmp.NS12, "1.0,1.4", "1.2", "1.0", "1.0"},
		{"cap above every offer", cwmp.NS12, "1.0,1.4", "1.4", "1.4", "1.4"},
		{"number-like cap from YAML", cwmp.NS12, "1.0,1.1,1.4", "1", "1.0", "1.0"},
		{"nothing offered under the cap", cwmp.NS12, "1.4", "1.0", "1.4", "1.4"},
		{"no cap", cwmp.NS12, "1.0,1.4", "", "1.4", "1.4"},
		{"no header, namespace above the cap", cwmp.NS11, "", "1.0", "", "1.0"},
		{"no header, namespace under the cap", cwmp.NS10, "", "1.2", "", "1.0"},
	}
	var profiles []session.Profile
	for i, c := range cases {
		profiles = append(profiles, session.Profile{Name: c.name, ProductClass: "VersionGW" + string(rune('A'+i)), MaxCWMPVersion: c.max})
	}
	a := startACS(t, "", session.Config{Profiles: profiles})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cpe := newTestCPE(t, a.url, "SN-V")
			cpe.id.ProductClass = profiles[i].ProductClass
			cpe.ns, cpe.supported = c.ns, c.supported
			cpe.session(cwmp.EventBootstrap)
			if got := cpe.informResponse.Header.UseCWMPVersion; got != c.wantUse {
				t.Errorf("UseCWMPVersion %q, want %q", got, c.wantUse)
			}
			if cpe.informResponse.Namespace != c.ns {
				t.Errorf("answered in %s, want the device's %s", cpe.informResponse.Namespace, c.ns)
			}
			dev, err := a.store.Device(context.Background(), store.DeviceIDFrom(cpe.id.OUI, cpe.id.ProductClass, cpe.id.SerialNumber))
			if err != nil {
				t.Fatal(err)
			}
			if dev.CWMPVersion != c.wantStored {
				t.Errorf("stored version %q, want %q", dev.CWMPVersion, c.wantStored)
			}
		})
	}
}

// Once a device whose profile lists a file type in TransferEndsSession
// accepts a transfer of that type, the ACS sends it nothing more: the
// session ends at once with a 204, and the tasks behind the transfer wait,
// without an attempt spent, for the next session.
func TestProfileTransferEndsSession(t *testing.T) {
	profiles := []session.Profile{
		{Name: "reboots-for-firmware", ProductClass: "FwGW", TransferEndsSession: []string{cwmp.FileFirmware}},
		{Name: "any-transfer", ProductClass: "AnyGW", TransferEndsSession: []string{"*"}},
	}
	a := startACS(t, "", session.Config{Profiles: profiles})
	ctx := context.Background()
	cases := []struct {
		name         string
		productClass string
		transfer     cwmp.Body
		wantCalls    []string // in the session of the transfer
		ends         bool
	}{
		{"firmware ends the session", "FwGW", &cwmp.Download{FileType: cwmp.FileFirmware, URL: "http://127.0.0.1:1/fw.bin"}, []string{"Download"}, true},
		{"another file type does not", "FwGW", &cwmp.Download{FileType: cwmp.FileVendorConfig, URL: "http://127.0.0.1:1/cfg.alter"}, []string{"Download", "GetParameterValues"}, false},
		{"a wildcard covers uploads", "AnyGW", &cwmp.Upload{FileType: cwmp.FileUploadVendorConfig, URL: "http://127.0.0.1:1/up"}, []string{"Upload"}, true},
		{"no profile, no end", "OtherGW", &cwmp.Download{FileType: cwmp.FileFirmware, URL: "http://127.0.0.1:1/fw.bin"}, []string{"Download", "GetParameterValues"}, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cpe := newTestCPE(t, a.url, "SN-T"+string(rune('A'+i)))
			cpe.id.ProductClass = c.productClass
			cpe.session(cwmp.EventBootstrap)
			id := store.DeviceIDFrom(cpe.id.OUI, cpe.id.ProductClass, cpe.id.SerialNumber)
			tr, err := session.NewTask(id, c.transfer)
			if err != nil {
				t.Fatal(err)
			}
			trID, _ := a.store.AddTask(ctx, tr)
			after, _ := session.NewTask(id, &cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo.UpTime"}})
			afterID, _ := a.store.AddTask(ctx, after)

			if calls := cpe.session(cwmp.EventPeriodic); !slices.Equal(calls, c.wantCalls) {
				t.Fatalf("device saw %v, want %v", calls, c.wantCalls)
			}
			got, _ := a.store.Task(ctx, trID)
			if got.State != store.StateWaitingTransfer {
				t.Fatalf("transfer task %s", got.State)
			}
			next, _ := a.store.Task(ctx, afterID)
			wantState, wantAttempts := store.StateDone, 1
			if c.ends {
				wantState, wantAttempts = store.StateQueued, 0
			}
			if next.State != wantState || next.Attempts != wantAttempts {
				t.Fatalf("task after the transfer: %s after %d attempts, want %s after %d", next.State, next.Attempts, wantState, wantAttempts)
			}
			hist, err := a.store.Sessions(ctx, id, 1)
			if err != nil || len(hist) != 1 || hist[0].Outcome != "ok" || hist[0].Error != "" {
				t.Fatalf("session record %+v %v", hist, err)
			}
			// The device comes back, reports the transfer, and the task
			// left over runs.
			cpe.session(cwmp.EventBoot)
			got, _ = a.store.Task(ctx, trID)
			next, _ = a.store.Task(ctx, afterID)
			if got.State != store.StateDone || next.State != store.StateDone {
				t.Fatalf("after the next session: transfer %s, other %s", got.State, next.State)
			}
		})
	}
}
