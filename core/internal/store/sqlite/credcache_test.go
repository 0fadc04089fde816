package sqlite

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/provisor/provisor/core/internal/store"
)

// TestCredentialCacheFollowsWrites: with readers filling the cache all
// the time, a read after any credential write has returned sees that
// write, whatever the kind of write.
func TestCredentialCacheFollowsWrites(t *testing.T) {
	db := openTest(t, Options{})
	const dev = "00D0B7-GW-A"
	addDevice(t, db, dev)
	cred := func(user string, pending bool) store.CPECredential {
		c, err := store.NewCPECredential(dev, user, "pw-"+user, "provisor")
		if err != nil {
			t.Fatal(err)
		}
		c.Pending = pending
		return c
	}
	// Readers hammer the cache for the whole test.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := db.DeviceCredentials(ctx, dev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()

	users := func() string {
		cs := must[[]store.CPECredential](t)(db.DeviceCredentials(ctx, dev))
		s := ""
		for _, c := range cs {
			s += c.Username
			if c.Pending {
				s += "(pending)"
			}
			s += " "
		}
		return s
	}
	for i := range 30 {
		active, next := fmt.Sprintf("u%d", i), fmt.Sprintf("u%d", i+1)
		steps := []struct {
			name  string
			write func() error
			want  string
		}{
			{"put active", func() error { return db.PutCPECredential(ctx, cred(active, false)) }, active + " "},
			{"rotate: put pending", func() error { return db.PutCPECredential(ctx, cred(next, true)) }, active + " " + next + "(pending) "},
			{"activate", func() error { return db.ActivateCPECredential(ctx, next) }, next + " "},
			{"delete", func() error { return db.DeleteCPECredential(ctx, next) }, ""},
		}
		for _, st := range steps {
			users() // likely cached before the write
			if err := st.write(); err != nil {
				t.Fatalf("round %d, %s: %v", i, st.name, err)
			}
			if got := users(); got != st.want {
				t.Fatalf("round %d, after %s: credentials %q, want %q", i, st.name, got, st.want)
			}
		}
	}
	// Deleting the device deletes its credentials (a trigger).
	if err := db.PutCPECredential(ctx, cred("last", false)); err != nil {
		t.Fatal(err)
	}
	if got := users(); got != "last " {
		t.Fatalf("%q", got)
	}
	if err := db.DeleteDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if got := users(); got != "" {
		t.Fatalf("credentials of a deleted device: %q", got)
	}
}

// TestCredentialCacheCopies: a caller changing what it got does not change
// what the next caller gets.
func TestCredentialCacheCopies(t *testing.T) {
	db := openTest(t, Options{})
	c, err := store.NewCPECredential("D", "u", "pw", "provisor")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutCPECredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got := must[[]store.CPECredential](t)(db.DeviceCredentials(ctx, "D"))
		if len(got) != 1 || got[0].Username != "u" || got[0].Pending {
			t.Fatalf("%+v", got)
		}
		got[0].Username, got[0].Pending = "changed", true
	}
}
