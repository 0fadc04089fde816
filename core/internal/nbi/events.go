package nbi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Event types.
const (
	EventDeviceInformed = "device.informed"
	EventSessionEnded   = "session.ended"
	EventTaskFinished   = "task.finished"
	EventFault          = "fault"
	EventConnReq        = "connection-request"
)

// EventTypes lists the event types, for validation and documentation.
var EventTypes = []string{EventDeviceInformed, EventSessionEnded, EventTaskFinished, EventFault, EventConnReq}

// Event is one notification, as streamed and as posted to webhooks.
type Event struct {
	// ID increases by one per event for the life of the process; an event
	// stream resumes after it with Last-Event-ID.
	ID       uint64          `json:"id"`
	Type     string          `json:"type"`
	Time     time.Time       `json:"time"`
	DeviceID string          `json:"deviceId,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// hub fans events out to stream subscribers and keeps the last few for
// streams that reconnect.
type hub struct {
	mu     sync.Mutex
	seq    uint64
	ring   []Event
	next   int
	subs   map[*sub]struct{}
	closed bool
	// sinks get every event (webhook queues); they must not block.
	sinks []func(Event)
}

type sub struct {
	ch     chan Event
	types  []string
	device string
	// lost is set when the subscriber fell behind and was cut off.
	lost bool
}

func newHub(keep int) *hub {
	return &hub{ring: make([]Event, 0, keep), subs: map[*sub]struct{}{}}
}

func (s *sub) wants(e Event) bool {
	return (len(s.types) == 0 || slices.Contains(s.types, e.Type)) && (s.device == "" || s.device == e.DeviceID)
}

func (h *hub) publish(typ, device string, data any, at time.Time) Event {
	raw, err := json.Marshal(data)
	if err != nil {
		raw = []byte("null")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e := Event{ID: h.seq, Type: typ, Time: at.UTC(), DeviceID: device, Data: raw}
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, e)
	} else {
		h.ring[h.next] = e
		h.next = (h.next + 1) % len(h.ring)
	}
	for s := range h.subs {
		if !s.wants(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			// A slow reader loses its stream rather than holding up
			// everyone; it reconnects with Last-Event-ID.
			s.lost = true
			close(s.ch)
			delete(h.subs, s)
		}
	}
	for _, f := range h.sinks {
		f(e)
	}
	return e
}

// subscribe registers a stream and returns the kept events after lastID
// that it wants.
func (h *hub) subscribe(lastID uint64, types []string, device string) (*sub, []Event) {
	s := &sub{ch: make(chan Event, 256), types: types, device: device}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.ch)
		return s, nil
	}
	var backlog []Event
	if lastID > 0 {
		n := len(h.ring)
		for i := range n {
			e := h.ring[(h.next+i)%n]
			if e.ID > lastID && s.wants(e) {
				backlog = append(backlog, e)
			}
		}
	}
	h.subs[s] = struct{}{}
	return s, backlog
}

func (h *hub) unsubscribe(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
}

// Publish sends an event to streams and webhooks. Components outside the
// API (scripts, plugins) may publish their own event types.
func (s *Server) Publish(typ, deviceID string, data any) Event {
	return s.events.publish(typ, deviceID, data, s.cfg.Now())
}

// streamEvents serves GET /api/v1/events as server-sent events.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q := queryParams(r, "types", "device")
	types := q.list("types")
	for _, t := range types {
		if !slices.Contains(EventTypes, t) {
			q.fail("types", "unknown event type %q; known: %v", t, EventTypes)
		}
	}
	device := q.str("device")
	if err := q.done(); err != nil {
		return err
	}
	var last uint64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return badParam("Last-Event-ID", "want the id of the last event received")
		}
		last = n
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		return problem(http.StatusInternalServerError, "internal", "streaming unsupported")
	}
	sb, backlog := s.events.subscribe(last, types, device)
	defer s.events.unsubscribe(sb)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The retry hint keeps reconnecting clients from hammering the server.
	fmt.Fprintf(w, "retry: 2000\n: provisor event stream\n\n")
	for _, e := range backlog {
		writeEvent(w, e)
	}
	fl.Flush()
	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case e, ok := <-sb.ch:
			if !ok {
				if sb.lost {
					fmt.Fprintf(w, ": too slow; events were dropped, reconnect with Last-Event-ID\n\n")
				}
				fl.Flush()
				return nil
			}
			writeEvent(w, e)
			// Send what else is waiting in the same write.
			for n := len(sb.ch); n > 0; n-- {
				if e, ok := <-sb.ch; ok {
					writeEvent(w, e)
				}
			}
			fl.Flush()
		case <-tick.C:
			fmt.Fprintf(w, ": ping\n\n")
			fl.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, e Event) {
	b, _ := json.Marshal(e)
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b)
}
