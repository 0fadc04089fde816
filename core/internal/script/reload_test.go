package script_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/script/scripttest"
)

func version(n int) string {
	return prelude + fmt.Sprintf(`
provisor.on("inform", (s) => {
	s.device.getValues("Device.DeviceInfo.UpTime");
	out(s, "v%d");
});
`, n)
}

// TestHotReloadMidTraffic: files change while devices hold sessions. A
// session keeps the bundle it started with even when a newer one loads
// during it; sessions started later use the new one; no session fails.
func TestHotReloadMidTraffic(t *testing.T) {
	a := startACS(t, map[string]string{"a.js": version(1)}, acsConfig{opts: script.Options{PollInterval: 10 * time.Millisecond}})

	// A session caught in the middle of a reload: the device holds its
	// first answer until version 2 is loaded.
	held := a.device(t, "SNHELD")
	release := make(chan struct{})
	var once sync.Once
	held.Observe = func(scripttest.Exchange) { once.Do(func() { <-release }) }
	heldDone := make(chan struct{})
	go func() {
		defer close(heldDone)
		held.session(cwmp.EventPeriodic)
	}()

	// Traffic from other devices throughout.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var sessions atomic.Int64
	var mu sync.Mutex
	seen := make([]map[string]bool, 4)
	for i := range seen {
		seen[i] = map[string]bool{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ft := &failT{TB: t}
			defer func() {
				if r := recover(); r != nil && r != any(ft) {
					panic(r)
				}
				if ft.err != nil {
					t.Error(ft.err)
				}
			}()
			c := a.device(ft, fmt.Sprintf("SNTRAFFIC%d", i))
			for !stop.Load() {
				c.session(cwmp.EventPeriodic)
				sessions.Add(1)
				v, _ := a.data(t, c, "out").(string)
				mu.Lock()
				seen[i][v] = true
				mu.Unlock()
			}
		}()
	}

	waitSeen := func(v string) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			all := true
			mu.Lock()
			for _, s := range seen {
				all = all && s[v]
			}
			mu.Unlock()
			if all {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not every device saw %s", v)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitSeen("v1")
	writeFiles(t, a.dir, map[string]string{"a.js": version(2)})
	deadline := time.Now().Add(5 * time.Second)
	for a.eng.Current().Version < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if a.eng.Current().Version < 2 {
		t.Fatal("version 2 never loaded")
	}
	close(release)
	<-heldDone
	if v := a.data(t, held, "out"); v != "v1" {
		t.Fatalf("the held session finished with %v, want v1: its bundle changed mid-session", v)
	}
	waitSeen("v2")
	// A version that does not compile loads with an error and without
	// the file's handlers; fixing the file brings them back.
	writeFiles(t, a.dir, map[string]string{"a.js": "provisor.on(\n"})
	waitVersion(t, a, 3)
	writeFiles(t, a.dir, map[string]string{"a.js": version(4)})
	waitVersion(t, a, 4)
	waitSeen("v4")
	stop.Store(true)
	wg.Wait()
	if n := len(a.logs.find("script handler failed")); n != 0 {
		t.Fatalf("%d handler errors", n)
	}
	if a.eng.Stats.Reloads.Load() != 3 {
		t.Fatalf("reloads %d", a.eng.Stats.Reloads.Load())
	}
	t.Logf("%d sessions during the reloads", sessions.Load())

	// Removing the file leaves no handler; the directory itself may go.
	if err := os.Remove(filepath.Join(a.dir, "a.js")); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, a, 5)
	if n := len(a.eng.Current().Registrations); n != 0 {
		t.Fatalf("%d handlers after the file was removed", n)
	}
}

func waitVersion(t *testing.T, a *acs, v int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for a.eng.Current().Version < v {
		if time.Now().After(deadline) {
			t.Fatalf("version %d never loaded (at %d)", v, a.eng.Current().Version)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failT turns Fatal in a goroutine into a recorded error.
type failT struct {
	testing.TB
	mu  sync.Mutex
	err error
}

func (f *failT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.err = fmt.Errorf(format, args...)
	f.mu.Unlock()
	panic(f)
}

func (f *failT) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *failT) Helper() {}
