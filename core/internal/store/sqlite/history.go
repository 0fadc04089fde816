package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/provisor/provisor/core/internal/store"
)

// newSessionID makes an ID for a session record that came without one.
func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RecordSession implements store.HistoryStore.
func (db *DB) RecordSession(ctx context.Context, s store.SessionRecord) error {
	if err := store.CheckDeviceID(s.DeviceID); err != nil {
		return err
	}
	s.Events = slices.Clone(s.Events)
	return db.enqueue(ctx, "record session", func(w *wtx) error {
		rid, err := w.rid(s.DeviceID)
		if err != nil {
			return err
		}
		return w.insertSession(rid, s)
	})
}

func (w *wtx) insertSession(rid int64, s store.SessionRecord) error {
	if s.ID == "" {
		s.ID = newSessionID()
	}
	events := []byte("[]")
	if len(s.Events) > 0 {
		var err error
		if events, err = json.Marshal(s.Events); err != nil {
			return err
		}
	}
	last, err := w.lastSeq(histSessions, rid)
	if err != nil {
		return err
	}
	seq := last + 1
	// No RETURNING and no max(seq) subquery: either makes the statement
	// several times dearer than the insert.
	if _, err := w.exec(`INSERT INTO sessions (rid, seq, id, started, ended, events, rpcs, outcome, error, remote_ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rid, seq, s.ID, ms(s.Started), ms(s.Ended), string(events), s.RPCs, s.Outcome, s.Error, s.RemoteIP); err != nil {
		return err
	}
	w.tookSeq(histSessions, rid, seq)
	return w.trim("sessions", rid, seq, w.db.opts.MaxSessionsPerDevice)
}

// trim keeps the newest keep rows of a device's history in table, given
// the seq just inserted. Seqs count up per device, so the rows to drop are
// one range of the clustered key.
func (w *wtx) trim(table string, rid, lastSeq int64, keep int) error {
	if keep < 0 || lastSeq <= int64(keep) {
		return nil
	}
	_, err := w.exec("DELETE FROM "+table+" WHERE rid = ? AND seq <= ?", rid, lastSeq-int64(keep))
	return err
}

// RecordEvents implements store.HistoryStore.
func (db *DB) RecordEvents(ctx context.Context, events []store.EventRecord) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if err := store.CheckDeviceID(e.DeviceID); err != nil {
			return err
		}
	}
	events = append([]store.EventRecord(nil), events...)
	return db.enqueue(ctx, "record events", func(w *wtx) error {
		type dev struct{ rid, last int64 }
		devs := map[string]*dev{}
		for _, e := range events {
			d, ok := devs[e.DeviceID]
			if !ok {
				rid, err := w.rid(e.DeviceID)
				if err != nil {
					return err
				}
				d = &dev{rid: rid}
				devs[e.DeviceID] = d
			}
			var err error
			if d.last, err = w.insertEvent(d.rid, e); err != nil {
				return err
			}
		}
		for _, d := range devs {
			if err := w.trim("events", d.rid, d.last, w.db.opts.MaxEventsPerDevice); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertEvent appends one event and returns its seq.
func (w *wtx) insertEvent(rid int64, e store.EventRecord) (int64, error) {
	last, err := w.lastSeq(histEvents, rid)
	if err != nil {
		return 0, err
	}
	seq := last + 1
	if _, err := w.exec(`INSERT INTO events (rid, seq, time, code, command_key, session_id)
		VALUES (?, ?, ?, ?, ?, ?)`, rid, seq, ms(e.Time), e.Code, e.CommandKey, e.SessionID); err != nil {
		return 0, err
	}
	w.tookSeq(histEvents, rid, seq)
	return seq, nil
}

func historyLimit(limit int) int {
	if limit <= 0 {
		return -1 // SQLite: no limit
	}
	return limit
}

// Sessions implements store.HistoryStore.
func (db *DB) Sessions(ctx context.Context, deviceID string, limit int) ([]store.SessionRecord, error) {
	rid, err := db.readRID(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, started, ended, events, rpcs, outcome, error, remote_ip
		FROM sessions WHERE rid = ? ORDER BY seq DESC LIMIT ?`, rid, historyLimit(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SessionRecord
	for rows.Next() {
		s := store.SessionRecord{DeviceID: deviceID}
		var started, ended sql.NullInt64
		var events string
		if err := rows.Scan(&s.ID, &started, &ended, &events, &s.RPCs, &s.Outcome, &s.Error, &s.RemoteIP); err != nil {
			return nil, err
		}
		s.Started, s.Ended = fromMS(started), fromMS(ended)
		if err := json.Unmarshal([]byte(events), &s.Events); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Events implements store.HistoryStore.
func (db *DB) Events(ctx context.Context, deviceID string, limit int) ([]store.EventRecord, error) {
	rid, err := db.readRID(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT time, code, command_key, session_id
		FROM events WHERE rid = ? ORDER BY seq DESC LIMIT ?`, rid, historyLimit(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.EventRecord
	for rows.Next() {
		e := store.EventRecord{DeviceID: deviceID}
		var t sql.NullInt64
		if err := rows.Scan(&t, &e.Code, &e.CommandKey, &e.SessionID); err != nil {
			return nil, err
		}
		e.Time = fromMS(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

// WriteSession implements store.Store.
func (db *DB) WriteSession(ctx context.Context, sw store.SessionWrite) error {
	if err := checkDevice(sw.Device); err != nil {
		return err
	}
	for _, f := range sw.Faults {
		if err := checkJSON("fault detail", f.Detail); err != nil {
			return err
		}
	}
	return db.write(ctx, "write session", db.sessionWriter(cloneSessionWrite(sw)))
}

// sessionWriter returns the writer op of WriteSession.
func (db *DB) sessionWriter(sw store.SessionWrite) func(w *wtx) error {
	return func(w *wtx) error {
		id := sw.Device.ID
		rid, err := w.upsertDevice(sw.Device)
		if err != nil {
			return err
		}
		if err := w.mergeParams(rid, id, sw.Params, sw.DeleteParamPrefixes); err != nil {
			return err
		}
		if sw.Session != nil {
			s := *sw.Session
			s.DeviceID = id
			if err := w.insertSession(rid, s); err != nil {
				return err
			}
		}
		var last int64
		for _, e := range sw.Events {
			if last, err = w.insertEvent(rid, e); err != nil {
				return err
			}
		}
		if err := w.trim("events", rid, last, db.opts.MaxEventsPerDevice); err != nil {
			return err
		}
		for _, f := range sw.Faults {
			if _, err := w.insertFault(rid, f); err != nil {
				return err
			}
		}
		if len(sw.Faults) > 0 {
			return w.trimFaults(rid)
		}
		return nil
	}
}

// cloneSessionWrite copies the slices of sw. A write whose caller gives up
// waiting may still run later, when the caller may be reusing its slices.
func cloneSessionWrite(sw store.SessionWrite) store.SessionWrite {
	sw.Device.Tags = slices.Clone(sw.Device.Tags)
	sw.Params = slices.Clone(sw.Params)
	sw.DeleteParamPrefixes = slices.Clone(sw.DeleteParamPrefixes)
	if sw.Session != nil {
		s := *sw.Session
		s.Events = slices.Clone(s.Events)
		sw.Session = &s
	}
	sw.Events = slices.Clone(sw.Events)
	sw.Faults = slices.Clone(sw.Faults)
	for i := range sw.Faults {
		sw.Faults[i].Detail = slices.Clone(sw.Faults[i].Detail)
	}
	return sw
}
