package session

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/store"
)

// learn records a parameter for the end-of-session write, merging what
// several RPCs of the session said about the same name.
func (s *Session) learn(p store.Param) {
	old, ok := s.learned[p.Name]
	if !ok {
		s.learned[p.Name] = p
		return
	}
	if p.ReadAt.IsZero() && p.SetAt.IsZero() { // names only: keep the value
		p.Value, p.Type, p.ReadAt, p.SetAt = old.Value, old.Type, old.ReadAt, old.SetAt
	}
	if p.Writable == store.WritableUnknown {
		p.Writable = old.Writable
	}
	if p.SetAt.IsZero() {
		p.SetAt = old.SetAt
	}
	s.learned[p.Name] = p
}

// learnFrom records what a successful RPC taught about the device's tree.
// Everything a session learns goes through here, so handlers never write
// parameters themselves.
func (s *Session) learnFrom(req, resp cwmp.Body) {
	now := time.Now()
	switch r := resp.(type) {
	case *cwmp.GetParameterValuesResponse:
		for _, p := range r.ParameterList {
			s.learn(store.ValueParam(p.Name, p.Value.Text, string(p.Value.Type), now))
		}
	case *cwmp.GetParameterNamesResponse:
		for _, p := range r.ParameterList {
			s.learn(store.NameParam(p.Name, p.Writable))
		}
	case *cwmp.SetParameterValuesResponse:
		if spv, ok := req.(*cwmp.SetParameterValues); ok {
			for _, p := range spv.ParameterList {
				v := p.Value.Text
				if hiddenParam(p.Name) {
					v = "" // what the device itself reports when read; never store a secret
				}
				np := store.ValueParam(p.Name, v, string(p.Value.Type), now)
				np.SetAt = now
				np.Writable = store.WritableYes
				s.learn(np)
			}
		}
	case *cwmp.AddObjectResponse:
		if ao, ok := req.(*cwmp.AddObject); ok {
			name := ao.ObjectName
			if !strings.HasSuffix(name, ".") {
				name += "."
			}
			s.learn(store.Param{Name: name + strconv.FormatUint(uint64(r.InstanceNumber), 10) + ".", Object: true, Writable: store.WritableYes, SetAt: now})
		}
	case *cwmp.DeleteObjectResponse:
		if do, ok := req.(*cwmp.DeleteObject); ok {
			prefix := do.ObjectName
			if !strings.HasSuffix(prefix, ".") {
				prefix += "."
			}
			s.deletes = append(s.deletes, prefix)
			for name := range s.learned {
				if strings.HasPrefix(name, prefix) {
					delete(s.learned, name)
				}
			}
		}
	}
}

// recordFault notes a fault the device returned, with the task whose call
// provoked it when ctx says so (hook.WithTask).
func (s *Session) recordFault(ctx context.Context, method string, f *cwmp.Fault) {
	detail, _ := json.Marshal(struct {
		Method string                         `json:"method"`
		Params []cwmp.SetParameterValuesFault `json:"params,omitempty"`
	}{method, f.SetParameterValuesFaults})
	s.faults = append(s.faults, store.FaultRecord{
		DeviceID: s.deviceID, SessionID: s.id, TaskID: hook.TaskOf(ctx), Time: time.Now(),
		Code: int(f.Code), Message: f.String, Detail: detail,
	})
}

// summary picks the device-row columns out of the Inform's parameters.
func summary(d *store.Device, params []cwmp.ParameterValue) {
	for _, p := range params {
		_, rest, _ := strings.Cut(p.Name, ".")
		switch rest {
		case "DeviceInfo.SoftwareVersion":
			d.SoftwareVersion = p.Value.Text
		case "DeviceInfo.HardwareVersion":
			d.HardwareVersion = p.Value.Text
		case "DeviceInfo.ModelName":
			d.ModelName = p.Value.Text
		case "ManagementServer.ConnectionRequestURL":
			d.ConnectionRequestURL = strings.TrimSpace(p.Value.Text)
		}
	}
}

// persist writes everything the session learned in one store write.
func (s *Session) persist(outcome string) {
	now := time.Now()
	in := s.inform
	dev := store.Device{
		ID: s.deviceID, OUI: in.DeviceID.OUI, ProductClass: in.DeviceID.ProductClass,
		SerialNumber: in.DeviceID.SerialNumber, Manufacturer: in.DeviceID.Manufacturer,
		IP: s.remoteIP, CWMPVersion: s.version.String(), Namespace: s.ns,
		LastInform: s.start, Profile: s.profile.Name,
	}
	if s.dev.New {
		dev.FirstInform = s.start
	}
	summary(&dev, in.ParameterList)
	w := store.SessionWrite{Device: dev, DeleteParamPrefixes: s.deletes, Faults: s.faults}
	events := make([]string, 0, len(in.Events))
	for _, e := range in.Events {
		code := cwmp.ParseEvent(string(e.EventCode)).Code
		switch code {
		case cwmp.EventBoot:
			w.Device.LastBoot = s.start
		case cwmp.EventBootstrap:
			w.Device.LastBootstrap = s.start
		}
		events = append(events, string(code))
		w.Events = append(w.Events, store.EventRecord{DeviceID: s.deviceID, Time: s.start, Code: string(code), CommandKey: e.CommandKey, SessionID: s.id})
	}
	w.Params = make([]store.Param, 0, len(s.learned))
	for _, p := range s.learned {
		w.Params = append(w.Params, p)
	}
	rec := &store.SessionRecord{
		ID: s.id, DeviceID: s.deviceID, Started: s.start, Ended: now, Events: events,
		RPCs: s.rpcs, Outcome: outcome, RemoteIP: s.remoteIP, Error: strings.Join(s.errs, "; "),
	}
	w.Session = rec
	// The write must outlive the session's own context, which may be the
	// reason the session ended.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.m.store.WriteSession(ctx, w); err != nil {
		s.log.Error("storing the session failed", "err", err)
	}
}

// hiddenParam reports whether a parameter holds a secret that TR-106 has
// the device return as an empty string when read (passwords, Wi-Fi keys).
func hiddenParam(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	for _, suffix := range []string{"Password", "Passphrase", "PreSharedKey", "Secret"} {
		if strings.HasSuffix(last, suffix) {
			return true
		}
	}
	return false
}
