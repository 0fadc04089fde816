package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

func TestHistoryBounded(t *testing.T) {
	db := openTest(t, Options{MaxSessionsPerDevice: 3, MaxEventsPerDevice: 4})
	addDevice(t, db, "A-1")
	addDevice(t, db, "B-1")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		at := t0.Add(time.Duration(i) * time.Minute)
		for _, dev := range []string{"A-1", "B-1"} {
			err := db.RecordSession(ctx, store.SessionRecord{
				ID: fmt.Sprintf("%s-s%d", dev, i), DeviceID: dev, Started: at, Ended: at.Add(time.Second),
				Events: []string{"2 PERIODIC", "M Reboot"}, RPCs: i, Outcome: "ok", RemoteIP: "10.0.0.1",
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.RecordEvents(ctx, []store.EventRecord{
				{DeviceID: dev, Time: at, Code: "2 PERIODIC", SessionID: fmt.Sprint(i)},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Fire-and-forget to an unknown device fails in the writer, is logged
	// and counted, and does not disturb the others.
	failed := db.Stats().FailedOps
	if err := db.RecordSession(ctx, store.SessionRecord{DeviceID: "nope"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if db.Stats().FailedOps != failed+1 {
		t.Errorf("failed ops %d, want %d", db.Stats().FailedOps, failed+1)
	}

	ss, err := db.Sessions(ctx, "A-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []string{"A-1-s5", "A-1-s4", "A-1-s3"}) {
		t.Fatalf("sessions = %v", ids)
	}
	if s := ss[0]; !slices.Equal(s.Events, []string{"2 PERIODIC", "M Reboot"}) || s.RPCs != 5 ||
		!s.Started.Equal(t0.Add(5*time.Minute)) || s.RemoteIP != "10.0.0.1" {
		t.Errorf("session = %+v", s)
	}
	if ss, _ := db.Sessions(ctx, "A-1", 1); len(ss) != 1 {
		t.Errorf("limit 1: %d sessions", len(ss))
	}
	ev, err := db.Events(ctx, "B-1", 0)
	if err != nil || len(ev) != 4 || ev[0].SessionID != "5" || ev[3].SessionID != "2" {
		t.Fatalf("events = %+v, %v", ev, err)
	}
	_, err = db.Sessions(ctx, "nope", 0)
	wantErr(t, err, store.ErrNotFound)
}

func TestWriteSessionAtomic(t *testing.T) {
	db := openTest(t, Options{})
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// A bad parameter fails the whole session write: the device row is
	// not created either.
	err := db.WriteSession(ctx, store.SessionWrite{
		Device: store.Device{ID: "A-1", LastInform: at},
		Params: []store.Param{{Name: "ok"}, {Name: ""}},
	})
	wantErr(t, err, store.ErrInvalid)
	_, err = db.Device(ctx, "A-1")
	wantErr(t, err, store.ErrNotFound)

	err = db.WriteSession(ctx, store.SessionWrite{
		Device:  store.Device{ID: "A-1", LastInform: at},
		Params:  []store.Param{store.ValueParam("Device.A", "1", "int", at)},
		Session: &store.SessionRecord{DeviceID: "ignored", Started: at},
		Events:  []store.EventRecord{{Code: "0 BOOTSTRAP", Time: at}, {Code: "1 BOOT", Time: at}},
		Faults:  []store.FaultRecord{{Code: 9005, Message: "bad name", Detail: json.RawMessage(`{"p":"x"}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ss, _ := db.Sessions(ctx, "A-1", 0)
	ev, _ := db.Events(ctx, "A-1", 0)
	fs, _, _ := db.Faults(ctx, store.FaultFilter{DeviceID: "A-1"})
	tree, _ := db.Params(ctx, "A-1")
	if len(ss) != 1 || ss[0].ID == "" || len(ev) != 2 || len(fs) != 1 || len(tree) != 1 {
		t.Fatalf("sessions %d events %d faults %d params %d", len(ss), len(ev), len(fs), len(tree))
	}
	if !bytes.Equal(fs[0].Detail, []byte(`{"p":"x"}`)) || fs[0].Time.IsZero() {
		t.Errorf("fault = %+v", fs[0])
	}
}

func TestFaults(t *testing.T) {
	db := openTest(t, Options{MaxFaultsPerDevice: 5})
	addDevice(t, db, "A-1")
	addDevice(t, db, "B-1")
	var ids []int64
	for i := range 8 {
		dev := []string{"A-1", "B-1"}[i%2]
		id, err := db.AddFault(ctx, store.FaultRecord{DeviceID: dev, Code: 9000 + i, TaskID: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	_, err := db.AddFault(ctx, store.FaultRecord{DeviceID: "A-1", Detail: json.RawMessage("{")})
	wantErr(t, err, store.ErrInvalid)
	_, err = db.AddFault(ctx, store.FaultRecord{DeviceID: "nope"})
	wantErr(t, err, store.ErrNotFound)

	var got []int64
	f := store.FaultFilter{Limit: 3}
	for {
		page, next, err := db.Faults(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			got = append(got, r.ID)
		}
		if next == 0 {
			break
		}
		f.Before = next
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("faults = %v, want %v", got, want)
	}
	page, _, _ := db.Faults(ctx, store.FaultFilter{DeviceID: "B-1"})
	if len(page) != 4 || page[0].Code != 9007 || page[0].DeviceID != "B-1" {
		t.Fatalf("B-1 faults = %+v", page)
	}
	if err := db.DeleteFault(ctx, page[0].ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.DeleteFault(ctx, page[0].ID), store.ErrNotFound)
	if page, _, _ := db.Faults(ctx, store.FaultFilter{DeviceID: "B-1"}); len(page) != 3 {
		t.Fatalf("after delete: %d", len(page))
	}
}

func TestData(t *testing.T) {
	db := openTest(t, Options{MaxDataValue: 10})
	addDevice(t, db, "A-1")
	buf := []byte("v1")
	if err := db.SetData(ctx, "A-1", "k", buf); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X' // the store must have copied
	if v, err := db.Data(ctx, "A-1", "k"); err != nil || string(v) != "v1" {
		t.Fatalf("Data = %q, %v", v, err)
	}
	if err := db.SetData(ctx, "A-1", "k", []byte{}); err != nil {
		t.Fatal(err)
	}
	if v, err := db.Data(ctx, "A-1", "k"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty value = %q, %v", v, err)
	}
	wantErr(t, db.SetData(ctx, "A-1", "k", make([]byte, 11)), store.ErrInvalid)
	wantErr(t, db.SetData(ctx, "A-1", "", nil), store.ErrInvalid)
	wantErr(t, db.SetData(ctx, "nope", "k", nil), store.ErrNotFound)
	if err := db.DeleteData(ctx, "A-1", "k"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteData(ctx, "A-1", "k"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Data(ctx, "A-1", "k")
	wantErr(t, err, store.ErrNotFound)
}
