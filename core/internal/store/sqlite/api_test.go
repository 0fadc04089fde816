package sqlite

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

func TestAddTasksIsAtomic(t *testing.T) {
	db := openTest(t, Options{})
	addDevice(t, db, "00D0B7-A-1")
	addDevice(t, db, "00D0B7-A-2")
	tasks := []store.Task{
		{DeviceID: "00D0B7-A-1", Kind: "Reboot", Args: json.RawMessage(`{"CommandKey":"k1"}`), CommandKey: "k1"},
		{DeviceID: "00D0B7-A-2", Kind: "refresh", Expires: time.Now().Add(time.Hour)},
		{DeviceID: "00D0B7-A-1", Kind: "FactoryReset", MaxAttempts: 5},
	}
	ids, err := db.AddTasks(ctx, tasks)
	if err != nil || len(ids) != 3 || !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Fatalf("ids %v err %v", ids, err)
	}
	for i, id := range ids {
		got, err := db.Task(ctx, id)
		if err != nil || got.Kind != tasks[i].Kind || got.DeviceID != tasks[i].DeviceID || got.State != store.StateQueued {
			t.Fatalf("task %d: %+v %v", i, got, err)
		}
	}
	if got, _ := db.Task(ctx, ids[2]); got.MaxAttempts != 5 {
		t.Fatal("max attempts lost")
	}
	if got, _ := db.Task(ctx, ids[1]); got.MaxAttempts != 3 {
		t.Fatal("default max attempts not applied")
	}
	// One unknown device: nothing of the call is stored.
	_, err = db.AddTasks(ctx, []store.Task{{DeviceID: "00D0B7-A-1", Kind: "Reboot"}, {DeviceID: "00D0B7-A-9", Kind: "Reboot"}})
	wantErr(t, err, store.ErrNotFound)
	_, err = db.AddTasks(ctx, []store.Task{{DeviceID: "00D0B7-A-1", Kind: "Reboot", Args: json.RawMessage("{")}})
	wantErr(t, err, store.ErrInvalid)
	page, _, err := db.Tasks(ctx, store.TaskFilter{})
	if err != nil || len(page) != 3 {
		t.Fatalf("%d tasks stored after failed calls, %v", len(page), err)
	}
	if n, err := db.QueuedTaskCount(ctx); err != nil || n != 3 {
		t.Fatalf("queued %d %v", n, err)
	}
	since := time.Now().Add(-time.Minute)
	got, err := db.TasksUpdatedSince(ctx, "00D0B7-A-1", since)
	if err != nil || len(got) != 2 {
		t.Fatalf("updated since: %d %v", len(got), err)
	}
	if got, _ := db.TasksUpdatedSince(ctx, "00D0B7-A-1", time.Now().Add(time.Minute)); len(got) != 0 {
		t.Fatal("future since matched")
	}
}

func TestTokens(t *testing.T) {
	db := openTest(t, Options{})
	h := sha256.Sum256([]byte("secret"))
	id, err := db.AddToken(ctx, store.Token{Name: "ops", Role: "admin", Hash: h[:], CreatedBy: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.TokenByHash(ctx, h[:])
	if err != nil || got.ID != id || got.Role != "admin" || !got.Revoked.IsZero() || got.Created.IsZero() {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := db.AddToken(ctx, store.Token{Name: "dup", Role: "viewer", Hash: h[:]}); err == nil {
		t.Fatal("duplicate hash accepted")
	}
	if _, err := db.AddToken(ctx, store.Token{Name: "", Role: "viewer", Hash: h[:]}); !errorsIs(err, store.ErrInvalid) {
		t.Fatal(err)
	}
	at := time.Now()
	if err := db.TouchToken(ctx, id, at); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeToken(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.RevokeToken(ctx, 999), store.ErrNotFound)
	list, err := db.Tokens(ctx)
	if err != nil || len(list) != 1 || list[0].Hash != nil || list[0].Revoked.IsZero() || list[0].LastUsed.UnixMilli() != at.UnixMilli() {
		t.Fatalf("%+v %v", list, err)
	}
	_, err = db.TokenByHash(ctx, make([]byte, 32))
	wantErr(t, err, store.ErrNotFound)
}

// A token can be created while a server holds the database.
func TestAddTokenToFileWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	h1 := sha256.Sum256([]byte("one"))
	// Not open: a new database is created and migrated.
	if _, err := AddTokenToFile(ctx, path, store.Token{Name: "first", Role: "admin", Hash: h1[:]}, Options{Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	db := openAt(t, path, Options{})
	h2 := sha256.Sum256([]byte("two"))
	id, err := AddTokenToFile(ctx, path, store.Token{Name: "second", Role: "viewer", Hash: h2[:]}, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.TokenByHash(ctx, h2[:])
	if err != nil || got.ID != id || got.Name != "second" {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestAudit(t *testing.T) {
	db := openTest(t, Options{})
	for i := range 5 {
		actor := "a"
		if i%2 == 1 {
			actor = "b"
		}
		if err := db.RecordAudit(ctx, store.AuditRecord{Actor: actor, Method: "POST", Path: "/api/v1/tasks", Action: "task.create", Status: 201, Detail: json.RawMessage(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordAudit(ctx, store.AuditRecord{Actor: "a", Detail: json.RawMessage("{")}); !errorsIs(err, store.ErrInvalid) {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	page, next, err := db.Audit(ctx, store.AuditFilter{Limit: 2})
	if err != nil || len(page) != 2 || next == 0 || page[0].ID < page[1].ID || string(page[0].Detail) != `{"n":1}` {
		t.Fatalf("%+v %d %v", page, next, err)
	}
	page, _, _ = db.Audit(ctx, store.AuditFilter{Actor: "b"})
	if len(page) != 2 {
		t.Fatalf("actor filter: %d", len(page))
	}
	if err := db.TrimAudit(ctx, 3); err != nil {
		t.Fatal(err)
	}
	page, _, _ = db.Audit(ctx, store.AuditFilter{})
	if len(page) != 3 {
		t.Fatalf("after trim: %d", len(page))
	}
}

func TestFilesMeta(t *testing.T) {
	db := openTest(t, Options{})
	f := store.FileMeta{ID: "f1", Name: "fw.npk", Type: "1 Firmware Upgrade Image", Version: "7.13", ProductClass: "RB4011",
		Size: 10, SHA256: "ab", Source: store.FileFromAPI}
	if _, err := db.AddFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddFile(ctx, f); !errorsIs(err, store.ErrConflict) {
		t.Fatalf("duplicate id: %v", err)
	}
	up := store.FileMeta{ID: "u1", Name: "backup.rsc", Type: "1 Vendor Configuration File", Size: 3, SHA256: "cd",
		Source: store.FileFromDevice, DeviceID: "00D0B7-A-1", UploadKey: "k"}
	if old, err := db.AddFile(ctx, up); err != nil || old != nil {
		t.Fatal(old, err)
	}
	up2 := up
	up2.ID = "u2"
	old, err := db.AddFile(ctx, up2)
	if err != nil || old == nil || old.ID != "u1" {
		t.Fatalf("replace by upload key: %+v %v", old, err)
	}
	list, _, err := db.Files(ctx, store.FileFilter{})
	if err != nil || len(list) != 2 || list[0].ID != "u2" {
		t.Fatalf("%+v %v", list, err)
	}
	list, _, _ = db.Files(ctx, store.FileFilter{DeviceID: "00D0B7-A-1"})
	if len(list) != 1 {
		t.Fatalf("device filter: %d", len(list))
	}
	list, _, _ = db.Files(ctx, store.FileFilter{Name: "fw.npk", Source: store.FileFromAPI})
	if len(list) != 1 || list[0].ID != "f1" {
		t.Fatalf("name filter: %+v", list)
	}
	if list, _, _ = db.Files(ctx, store.FileFilter{Name: "fw"}); len(list) != 0 {
		t.Fatalf("name filter matches a prefix: %+v", list)
	}
	got, err := db.File(ctx, "f1")
	if err != nil || got.Version != "7.13" || got.Created.IsZero() {
		t.Fatalf("%+v %v", got, err)
	}
	var ids bytes.Buffer
	if err := db.FileIDs(ctx, func(id string) error { ids.WriteString(id + ","); return nil }); err != nil || ids.Len() == 0 {
		t.Fatal(err)
	}
	if err := db.DeleteFile(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.DeleteFile(ctx, "f1"), store.ErrNotFound)
	_, err = db.File(ctx, "f1")
	wantErr(t, err, store.ErrNotFound)
	if _, err := db.AddFile(ctx, store.FileMeta{ID: "x", Name: "n", Type: "t", Source: "elsewhere"}); !errorsIs(err, store.ErrInvalid) {
		t.Fatal(err)
	}
}

func TestConnReqRecords(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	id := "00D0B7-A-1"
	addDevice(t, db, id)
	start := clk.Now()
	for i := range 12 {
		if err := db.RecordConnReq(ctx, store.ConnReqRecord{DeviceID: id, Time: start.Add(time.Duration(i) * time.Second), Result: "unreachable", Attempts: 2, Error: "refused"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ConfirmConnReq(ctx, id, start.Add(5*time.Second), start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := db.ConnReqs(ctx, id, 0)
	if err != nil || len(got) != maxConnReqsPerDevice {
		t.Fatalf("%d records %v", len(got), err)
	}
	if got[0].Confirmed.IsZero() || !got[1].Confirmed.IsZero() || got[0].Attempts != 2 || got[0].Result != "unreachable" {
		t.Fatalf("%+v", got[:2])
	}
	if _, err := db.ConnReqs(ctx, "nope", 1); !errorsIs(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
