package sqlite

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/storetest"
)

// fillDevices creates n devices with realistic trees, writing from several
// goroutines so that the writer batches.
func fillDevices(tb testing.TB, db *DB, n int, at time.Time) {
	tb.Helper()
	var wg sync.WaitGroup
	var next atomic.Int64
	var failed atomic.Value
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				err := db.WriteSession(ctx, store.SessionWrite{
					Device: store.Device{ID: benchID(i), OUI: "488F5A", ProductClass: "RB4011",
						SerialNumber: fmt.Sprintf("HCT%08d", i), LastInform: at},
					Params: storetest.Tree(uint64(i), at),
				})
				if err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		tb.Fatal(err)
	}
}

func benchID(i int) string { return store.DeviceIDFrom("488F5A", "RB4011", fmt.Sprintf("HCT%08d", i)) }

// BenchmarkParamsRead300 reads one device's whole tree (about 390 nodes:
// 300 parameters and their objects) from a database of 2000 devices.
func BenchmarkParamsRead300(b *testing.B) {
	db := openTest(b, Options{})
	const n = 2000
	fillDevices(b, db, n, time.Now())
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tree, err := db.Params(ctx, benchID(rng.IntN(n)))
		if err != nil || len(tree) < 300 {
			b.Fatal(len(tree), err)
		}
	}
}

// BenchmarkParamsRead300Parallel is the same read from all CPUs at once.
func BenchmarkParamsRead300Parallel(b *testing.B) {
	db := openTest(b, Options{})
	const n = 2000
	fillDevices(b, db, n, time.Now())
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 2))
		for pb.Next() {
			if _, err := db.Params(ctx, benchID(rng.IntN(n))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSessionWrite is the write at the end of a periodic session:
// device row upsert with the new last-inform time, a few changed
// parameters merged into a full realistic tree, a session record and its
// event, through the batching writer from many goroutines at once.
func BenchmarkSessionWrite(b *testing.B) {
	db := openTest(b, Options{})
	const n = 2000
	start := time.Now()
	fillDevices(b, db, n, start)
	var seq atomic.Int64
	before := db.Stats()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1))
			at := start.Add(time.Duration(i) * time.Millisecond)
			err := db.WriteSession(ctx, store.SessionWrite{
				Device: store.Device{ID: benchID(i % n), LastInform: at, IP: "100.64.0.1"},
				Params: []store.Param{
					store.ValueParam("Device.DeviceInfo.UpTime", strconv.Itoa(i), "unsignedInt", at),
					store.ValueParam("Device.DeviceInfo.MemoryStatus.Free", strconv.Itoa(i%1000), "unsignedInt", at),
					store.ValueParam("Device.Ethernet.Interface.1.Stats.BytesSent", strconv.Itoa(i*1000), "unsignedLong", at),
					store.ValueParam("Device.Ethernet.Interface.1.Stats.BytesReceived", strconv.Itoa(i*3000), "unsignedLong", at),
					store.ValueParam("Device.ManagementServer.ConnectionRequestURL", "http://100.64.0.1:7547/x", "string", at),
				},
				Session: &store.SessionRecord{Started: at.Add(-time.Second), Ended: at,
					Events: []string{"2 PERIODIC"}, RPCs: 1, Outcome: "ok", RemoteIP: "100.64.0.1"},
				Events: []store.EventRecord{{Code: "2 PERIODIC", Time: at}},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	st := db.Stats()
	batches, ops := st.Batches-before.Batches, st.Ops-before.Ops
	if batches > 0 {
		b.ReportMetric(float64(ops)/float64(batches), "ops/batch")
	}
	b.Logf("writer: %s", st)
}

// TestSizePerDevice measures the database bytes per device for realistic
// 300-parameter trees and the cost of full default history, and
// extrapolates to 1,000,000 devices. Set PROVISOR_STORE_SIZE_DEVICES to
// measure more devices.
func TestSizePerDevice(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measurement: writes a few thousand devices")
	}
	n := 3000
	if s := os.Getenv("PROVISOR_STORE_SIZE_DEVICES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	path := dir + "/size.db"
	db, err := Open(ctx, path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	fillDevices(t, db, n, at)
	// Second round: every tree rewritten once, as after a day of sessions,
	// so the pages hold updated rows rather than only a fresh bulk load.
	fillDevices(t, db, n, at.Add(time.Hour))
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	perDevice := float64(fi.Size()) / float64(n)
	t.Logf("%d devices with ~390-node trees: %d bytes, %.0f bytes/device; 1,000,000 devices ≈ %.2f GB",
		n, fi.Size(), perDevice, perDevice*1e6/1e9)
	if perDevice*1e6 > 3.2e9 {
		t.Errorf("%.0f bytes per device exceeds the 3 GB budget for a million devices", perDevice)
	}

	// History at the default bounds, for a subset of devices.
	db = openAt(t, path, Options{})
	const hist = 100
	var wg sync.WaitGroup
	for d := range hist {
		wg.Go(func() {
			id := benchID(d)
			for s := range 100 {
				st := at.Add(time.Duration(s) * 5 * time.Minute)
				events := []store.EventRecord{{Code: "2 PERIODIC", Time: st}, {Code: "6 CONNECTION REQUEST", Time: st}}
				if err := db.WriteSession(ctx, store.SessionWrite{
					Device:  store.Device{ID: id, LastInform: st},
					Session: &store.SessionRecord{Started: st, Ended: st.Add(2 * time.Second), Events: []string{"2 PERIODIC", "6 CONNECTION REQUEST"}, RPCs: 3, Outcome: "ok", RemoteIP: "100.64.12.34"},
					Events:  events,
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(path)
	perHist := float64(fi2.Size()-fi.Size()) / hist
	t.Logf("full default history (20 sessions + 50 events kept of 100 written): %.0f bytes/device; 1,000,000 devices ≈ %.2f GB",
		perHist, perHist*1e6/1e9)
}

// BenchmarkSessionWriteUnchanged is the write at the end of the common
// periodic session: the Inform's values as stored before, read again within
// Options.ReadAtResolution, so the tree is neither read nor written; what
// remains is the device row, the session record and its event.
func BenchmarkSessionWriteUnchanged(b *testing.B) {
	db := openTest(b, Options{ReadAtResolution: time.Hour})
	const n = 2000
	start := time.Now()
	fillDevices(b, db, n, start)
	var seq atomic.Int64
	before := db.Stats()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1))
			at := start.Add(time.Duration(i) * time.Millisecond)
			err := db.WriteSession(ctx, store.SessionWrite{
				Device: store.Device{ID: benchID(i % n), LastInform: at, IP: "100.64.0.1"},
				Params: []store.Param{
					store.ValueParam("Device.DeviceInfo.SoftwareVersion", "7.2.1", "string", at),
					store.ValueParam("Device.ManagementServer.ConnectionRequestURL", "http://100.64.0.1:7547/x", "string", at),
					store.ValueParam("Device.ManagementServer.ParameterKey", "", "string", at),
				},
				Session: &store.SessionRecord{Started: at.Add(-time.Second), Ended: at,
					Events: []string{"2 PERIODIC"}, RPCs: 0, Outcome: "ok", RemoteIP: "100.64.0.1"},
				Events: []store.EventRecord{{Code: "2 PERIODIC", Time: at}},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	st := db.Stats()
	batches, ops := st.Batches-before.Batches, st.Ops-before.Ops
	if batches > 0 {
		b.ReportMetric(float64(ops)/float64(batches), "ops/batch")
	}
	b.ReportMetric(float64(st.ParamMemoSkips-before.ParamMemoSkips)/float64(b.N), "memo-skips/op")
	b.Logf("writer: %s", st)
}

// BenchmarkWriterPeriodicBatch measures what the writer itself spends on
// the common periodic session: batches of unchanged session writes (device
// row, session record, one event, history trimming) applied on the
// benchmark goroutine while the writer goroutine idles, so that ns/op is
// the writer's cost per session, free of scheduling and client costs.
func BenchmarkWriterPeriodicBatch(b *testing.B) {
	db := openTest(b, Options{ReadAtResolution: time.Hour})
	const devices, perBatch = 100, 8
	start := time.Now()
	write := func(i int, at time.Time) store.SessionWrite {
		return store.SessionWrite{
			Device: store.Device{ID: benchID(i % devices), OUI: "488F5A", ProductClass: "RB4011", LastInform: at, IP: "100.64.0.1"},
			Params: []store.Param{
				store.ValueParam("Device.DeviceInfo.SoftwareVersion", "7.2.1", "string", at),
				store.ValueParam("Device.ManagementServer.ConnectionRequestURL", "http://100.64.0.1:7547/x", "string", at),
			},
			Session: &store.SessionRecord{Started: at.Add(-time.Second), Ended: at,
				Events: []string{"2 PERIODIC"}, Outcome: "ok", RemoteIP: "100.64.0.1"},
			Events: []store.EventRecord{{Code: "2 PERIODIC", Time: at}},
		}
	}
	// Two rounds: the first creates the devices, the second sets the
	// parameter memos; then fill the history up to its bounds.
	for i := range devices * 60 {
		if err := db.WriteSession(ctx, write(i, start)); err != nil {
			b.Fatal(err)
		}
	}
	w := &wtx{db: db, conn: db.wconn}
	batch := make([]*op, perBatch)
	results := make([]error, perBatch)
	failed := db.Stats().FailedOps
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i += perBatch {
		n := min(perBatch, b.N-i)
		for j := range n {
			at := start.Add(time.Duration(i+j) * time.Millisecond)
			batch[j] = &op{name: "write session", apply: db.sessionWriter(write(i+j, at))}
		}
		db.runBatch(w, batch[:n], results[:n])
	}
	b.StopTimer()
	// Wall time includes waiting for the disk (checkpoints); CPU time is
	// what the writer costs the machine.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	if st := db.Stats(); st.FailedOps != failed {
		b.Fatalf("failed ops: %s", st)
	}
}
