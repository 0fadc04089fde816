package sqlite

import (
	"testing"

	"github.com/provisor/provisor/core/internal/store"
)

func TestCredentials(t *testing.T) {
	db := openTest(t, Options{})
	devA := store.DeviceIDFrom("00D0B7", "GW", "A")
	devB := store.DeviceIDFrom("00D0B7", "GW", "B")
	cred := func(dev, user, pw string, pending bool) store.CPECredential {
		c, err := store.NewCPECredential(dev, user, pw, "provisor")
		if err != nil {
			t.Fatal(err)
		}
		c.Pending = pending
		return c
	}
	users := func(dev string) []string {
		cs, err := db.DeviceCredentials(ctx, dev)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			s := c.Username
			if c.Pending {
				s += "(pending)"
			}
			out = append(out, s)
		}
		return out
	}
	eq := func(got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}

	// Provisioned before the device exists.
	if err := db.PutCPECredential(ctx, cred(devA, "a1", "secret-1", false)); err != nil {
		t.Fatal(err)
	}
	eq(users(devA), "a1")
	got, err := db.CPECredential(ctx, "a1")
	if err != nil || got.DeviceID != devA || !got.VerifyPassword("secret-1") || got.VerifyPassword("secret-2") || got.Created.IsZero() {
		t.Fatalf("%+v %v", got, err)
	}
	if got.HA1MD5 != store.DigestHA1("MD5", "a1", "provisor", "secret-1") {
		t.Fatal("HA1 not stored")
	}
	// A pending rotation sits beside the active credential.
	if err := db.PutCPECredential(ctx, cred(devA, "a2", "secret-2", true)); err != nil {
		t.Fatal(err)
	}
	eq(users(devA), "a1", "a2(pending)")
	// A newer pending one replaces the older pending one only.
	if err := db.PutCPECredential(ctx, cred(devA, "a3", "secret-3", true)); err != nil {
		t.Fatal(err)
	}
	eq(users(devA), "a1", "a3(pending)")
	// Activation leaves it the device's only credential.
	if err := db.ActivateCPECredential(ctx, "a3"); err != nil {
		t.Fatal(err)
	}
	eq(users(devA), "a3")
	// User names are unique across devices.
	wantErr(t, db.PutCPECredential(ctx, cred(devB, "a3", "x", false)), store.ErrConflict)
	// An active credential replaces the device's others.
	if err := db.PutCPECredential(ctx, cred(devA, "a4", "secret-4", false)); err != nil {
		t.Fatal(err)
	}
	eq(users(devA), "a4")
	wantErr(t, db.ActivateCPECredential(ctx, "nobody"), store.ErrNotFound)
	wantErr(t, db.DeleteCPECredential(ctx, "nobody"), store.ErrNotFound)
	_, err = db.CPECredential(ctx, "a3")
	wantErr(t, err, store.ErrNotFound)
	// Invalid input.
	wantErr(t, db.PutCPECredential(ctx, store.CPECredential{DeviceID: devB, Username: "x"}), store.ErrInvalid)
	wantErr(t, db.PutCPECredential(ctx, store.CPECredential{DeviceID: devB, Username: "x:y", HA1MD5: "00"}), store.ErrInvalid)

	// Deleting the device deletes its credentials.
	addDevice(t, db, devB)
	if err := db.PutCPECredential(ctx, cred(devB, "b1", "pw", false)); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteDevice(ctx, devB); err != nil {
		t.Fatal(err)
	}
	eq(users(devB))
	if err := db.DeleteCPECredential(ctx, "a4"); err != nil {
		t.Fatal(err)
	}
	eq(users(devA))

	// Deleting a device's credentials takes the active and the pending
	// one, leaves other devices' alone, and finds nothing the second time.
	devC := store.DeviceIDFrom("00D0B7", "GW", "C")
	for _, c := range []store.CPECredential{cred(devA, "a5", "pw", false), cred(devA, "a6", "pw", true), cred(devC, "c1", "pw", false)} {
		if err := db.PutCPECredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []int{2, 0} {
		if n, err := db.DeleteDeviceCredentials(ctx, devA); err != nil || n != want {
			t.Fatalf("delete %d: %d %v, want %d", i, n, err, want)
		}
	}
	eq(users(devA))
	eq(users(devC), "c1")
}
