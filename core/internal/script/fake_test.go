package script_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/script/scripttest"
	"github.com/provisor/provisor/core/internal/store"
)

// fakeSession is a hook.Session wired straight to an in-memory device,
// with no session engine: for tests of the engine's own timing and for
// benchmarks that must not measure the device round trip.
type fakeSession struct {
	id      string
	dev     hook.Device
	inform  *cwmp.Inform
	start   time.Time
	device  *scripttest.Device
	delay   time.Duration // per device call
	log     *slog.Logger
	learned map[string]store.Param
	calls   atomic.Int64
}

var fakeIDs atomic.Int64

func newFakeSession(tb testing.TB, serial string, events ...cwmp.EventCode) *fakeSession {
	tb.Helper()
	id := cwmp.DeviceID{Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: serial}
	d, err := scripttest.NewDevice("tr181", id)
	if err != nil {
		tb.Fatal(err)
	}
	in := &cwmp.Inform{DeviceID: id}
	for _, e := range events {
		in.Events = append(in.Events, cwmp.EventStruct{EventCode: e})
	}
	s := &fakeSession{
		dev:    hook.Device{ID: store.DeviceIDFrom(id.OUI, id.ProductClass, id.SerialNumber), OUI: id.OUI, ProductClass: id.ProductClass, SerialNumber: serial, Manufacturer: id.Manufacturer, Root: "Device.", Version: cwmp.Version{Major: 1, Minor: 2}},
		inform: in, start: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), device: d,
		log: slog.New(slog.DiscardHandler), learned: map[string]store.Param{},
	}
	s.renew()
	return s
}

// renew makes the session look like a new one of the same device.
func (s *fakeSession) renew() {
	s.id = fmt.Sprintf("fake%020d", fakeIDs.Add(1))
}

func (s *fakeSession) ID() string            { return s.id }
func (s *fakeSession) Device() hook.Device   { return s.dev }
func (s *fakeSession) Inform() *cwmp.Inform  { return s.inform }
func (s *fakeSession) Requests() []cwmp.Body { return nil }
func (s *fakeSession) Start() time.Time      { return s.start }
func (s *fakeSession) Logger() *slog.Logger  { return s.log }
func (s *fakeSession) HasEvent(c cwmp.EventCode) bool {
	return slices.ContainsFunc(s.inform.Events, func(e cwmp.EventStruct) bool { return e.EventCode == c })
}

func (s *fakeSession) Value(_ context.Context, name string) (store.Param, bool, error) {
	p, ok := s.learned[name]
	return p, ok, nil
}

func (s *fakeSession) Values(_ context.Context, prefix string) ([]store.Param, error) {
	var out []store.Param
	for n, p := range s.learned {
		if strings.HasPrefix(n, prefix) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *fakeSession) Call(ctx context.Context, req cwmp.Body) (cwmp.Body, error) {
	s.calls.Add(1)
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", hook.ErrSessionEnded, ctx.Err())
		}
	}
	resp := s.device.Answer(req)
	if f, ok := resp.(*cwmp.Fault); ok {
		return nil, f
	}
	if r, ok := resp.(*cwmp.GetParameterValuesResponse); ok {
		for _, p := range r.ParameterList {
			s.learned[p.Name] = store.ValueParam(p.Name, p.Value.Text, string(p.Value.Type), time.Now())
		}
	}
	return resp, nil
}

// engineFor loads files into an engine without a store.
func engineFor(tb testing.TB, files map[string]string, o script.Options) (*script.Engine, *logRecorder) {
	tb.Helper()
	dir := tb.TempDir()
	writeFiles(tb, dir, files)
	logs := &logRecorder{}
	o.Dir = dir
	o.Logger = slog.New(logs)
	o.PollInterval = -1
	e := script.New(o)
	if _, err := e.Load(); err != nil {
		tb.Fatal(err)
	}
	return e, logs
}
