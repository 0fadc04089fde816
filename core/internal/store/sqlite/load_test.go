package sqlite

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/storetest"
)

// TestConcurrency runs 200 goroutines of mixed session writes, task
// traffic and reads against one database with a small read pool. Any error
// at all, "database is locked" above all, fails it.
func TestConcurrency(t *testing.T) {
	db := openTest(t, Options{Readers: 4, QueueSize: 256, MaxSessionsPerDevice: 10, MaxEventsPerDevice: 20})
	const workers, iterations, devices = 200, 12, 40
	base := time.Now()
	for d := range devices {
		err := db.WriteSession(ctx, store.SessionWrite{
			Device: store.Device{ID: fmt.Sprintf("DEV-%02d", d), LastInform: base},
			Params: storetest.Tree(uint64(d), base),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var errCount atomic.Int64
	fail := func(what string, err error) {
		if err != nil {
			errCount.Add(1)
			t.Errorf("%s: %v", what, err)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range iterations {
				id := fmt.Sprintf("DEV-%02d", rng.IntN(devices))
				at := base.Add(time.Duration(w*iterations+i) * time.Millisecond)
				switch rng.IntN(8) {
				case 0, 1:
					fail("write session", db.WriteSession(ctx, store.SessionWrite{
						Device: store.Device{ID: id, LastInform: at, IP: "10.0.0.1"},
						Params: []store.Param{
							store.ValueParam("Device.DeviceInfo.UpTime", strconv.Itoa(i), "unsignedInt", at),
							store.ValueParam(fmt.Sprintf("Device.X_TEST.W%d", w), "v", "string", at),
						},
						Session: &store.SessionRecord{Started: at, Ended: at, Events: []string{"2 PERIODIC"}},
						Events:  []store.EventRecord{{Code: "2 PERIODIC", Time: at}},
					}))
				case 2:
					tid, err := db.AddTask(ctx, store.Task{DeviceID: id, Kind: "GetParameterValues",
						Args: json.RawMessage(`{"ParameterNames":["Device."]}`)})
					fail("add task", err)
					pending, err := db.PendingTasks(ctx, id, at)
					fail("pending", err)
					// Another worker on the same device may already have
					// run the task, but it must exist.
					_, err = db.Task(ctx, tid)
					fail("task", err)
					// Several workers may race for the same task; losing
					// the compare-and-set is the expected outcome for all
					// but one.
					for _, p := range pending {
						_, err := db.UpdateTask(ctx, store.TaskUpdate{ID: p.ID, State: store.StateRunning, From: store.StateQueued})
						if err == nil {
							_, err = db.UpdateTask(ctx, store.TaskUpdate{ID: p.ID, State: store.StateDone, From: store.StateRunning})
							fail("finish task", err)
						} else if !isConflict(err) {
							fail("start task", err)
						}
					}
				case 3:
					tree, err := db.Params(ctx, id)
					fail("params", err)
					if len(tree) < 300 {
						fail("params", fmt.Errorf("%d nodes", len(tree)))
					}
				case 4:
					_, _, err := db.Devices(ctx, store.DeviceFilter{Limit: 10, InformedAfter: base.Add(-time.Hour)})
					fail("devices", err)
					_, err = db.Device(ctx, id)
					fail("device", err)
				case 5:
					fail("record session", db.RecordSession(ctx, store.SessionRecord{DeviceID: id, Started: at}))
					_, err := db.Sessions(ctx, id, 5)
					fail("sessions", err)
				case 6:
					fail("set data", db.SetData(ctx, id, fmt.Sprintf("k%d", w%5), []byte(strconv.Itoa(i))))
					_, err := db.Data(ctx, id, fmt.Sprintf("k%d", w%5))
					if err != nil && !isNotFound(err) {
						fail("data", err)
					}
				case 7:
					fail("tags", db.AddTags(ctx, id, fmt.Sprintf("g%d", w%3)))
					_, _, err := db.Devices(ctx, store.DeviceFilter{Tag: "g1", Limit: 5})
					fail("devices by tag", err)
				}
			}
		})
	}
	wg.Wait()
	fail("flush", db.Flush(ctx))
	fail("integrity", db.IntegrityCheck(ctx))
	st := db.Stats()
	t.Logf("writer: %s", st)
	if st.FailedOps != 0 && errCount.Load() == 0 {
		// Only expected failures: compare-and-set losses.
		t.Logf("failed ops are lost compare-and-sets: %d", st.FailedOps)
	}
}

func isConflict(err error) bool { return errorsIs(err, store.ErrConflict) }
func isNotFound(err error) bool { return errorsIs(err, store.ErrNotFound) }

const crashEnv = "PROVISOR_STORE_CRASH_DB"

// TestCrashDurability kills a writing process with SIGKILL and checks that
// every task it acknowledged survived and the database is intact. The child
// is this test binary re-executed with crashEnv set.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int64]bool{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	record := func(l string) {
		if id, ok := strings.CutPrefix(l, "ack "); ok {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				t.Fatalf("bad line %q", l)
			}
			acked[n] = true
		}
	}
	// Kill at a random moment some time after the child got going, so the
	// kill lands anywhere in the writer's cycle, most likely mid-batch.
	var kill <-chan time.Time
	deadline := time.After(10 * time.Second)
	for killed := false; !killed; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("child exited before it was killed")
			}
			record(l)
			if kill == nil {
				kill = time.After(time.Duration(300+rand.IntN(500)) * time.Millisecond)
			}
		case <-kill:
			killed = true
		case <-deadline:
			t.Fatal("child acknowledged nothing in 10s")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines written before the kill are acknowledgements too.
	for l := range lines {
		record(l)
	}
	_ = cmd.Wait()
	if len(acked) == 0 {
		t.Fatal("child acknowledged nothing")
	}

	db := openAt(t, path, Options{})
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for id := range acked {
		if _, err := db.Task(ctx, id); err != nil {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged task %d: %v", id, err)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged tasks lost", missing, len(acked))
	}
	t.Logf("%d acknowledged tasks all present after SIGKILL; integrity ok", len(acked))
}

// crashChild writes until it is killed: several goroutines add tasks and
// print each acknowledged ID, another rewrites large parameter trees so
// that batches are big and a kill lands mid-transaction.
func crashChild(path string) {
	db, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	if err := db.UpsertDevice(ctx, store.Device{ID: "CRASH-1", LastInform: time.Now()}); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				id, err := db.AddTask(ctx, store.Task{DeviceID: "CRASH-1", Kind: "Reboot",
					CommandKey: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child add:", err)
					os.Exit(2)
				}
				mu.Lock()
				// One write per line: a pipe write this small is atomic.
				os.Stdout.WriteString("ack " + strconv.FormatInt(id, 10) + "\n")
				mu.Unlock()
			}
		}()
	}
	go func() {
		for i := uint64(0); ; i++ {
			_ = db.UpdateParams(ctx, "CRASH-1", storetest.Tree(i, time.Now()), []string{""})
			_ = db.RecordSession(ctx, store.SessionRecord{DeviceID: "CRASH-1", Started: time.Now()})
		}
	}()
	select {}
}
