package nbi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/metrics"
)

// sseClient reads an event stream.
type sseClient struct {
	events chan Event
	resp   *http.Response
	cancel context.CancelFunc
}

func (e *env) stream(t *testing.T, query, lastID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.apiSrv.URL+"/api/v1/events"+query, nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[RoleViewer])
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	c := &sseClient{events: make(chan Event, 100), resp: resp, cancel: cancel}
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		var ev Event
		var id uint64
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id, _ = strconv.ParseUint(line[4:], 10, 64)
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev)
			case line == "" && id != 0:
				if ev.ID != id {
					panic("id line and data disagree")
				}
				c.events <- ev
				ev, id = Event{}, 0
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return c
}

// next returns the next event of the type.
func (c *sseClient) next(t *testing.T, typ string, within time.Duration) Event {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				t.Fatal("stream ended")
			}
			if e.Type == typ {
				return e
			}
		case <-timer.C:
			t.Fatalf("no %s event in %v", typ, within)
		}
	}
}

// receiver is a webhook endpoint that fails the first n deliveries.
type receiver struct {
	srv      *httptest.Server
	failures atomic.Int32
	mu       sync.Mutex
	got      []Event
	attempts []string
	badSig   int
}

func newReceiver(t *testing.T, secret string, fail int32) *receiver {
	rc := &receiver{}
	rc.failures.Store(fail)
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("X-Provisor-Timestamp"), 10, 64)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if Sign(secret, ts, body) != r.Header.Get("X-Provisor-Signature") {
			rc.badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if rc.failures.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var e Event
		_ = json.Unmarshal(body, &e)
		if r.Header.Get("X-Provisor-Event") != e.Type || r.Header.Get("X-Provisor-Delivery") != strconv.FormatUint(e.ID, 10) {
			rc.badSig++
		}
		rc.got = append(rc.got, e)
		rc.attempts = append(rc.attempts, r.Header.Get("X-Provisor-Attempt"))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) waitFor(t *testing.T, pred func(Event) bool, within time.Duration) (Event, string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		rc.mu.Lock()
		for i, e := range rc.got {
			if pred(e) {
				a := rc.attempts[i]
				rc.mu.Unlock()
				return e, a
			}
		}
		rc.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no matching delivery in %v", within)
	return Event{}, ""
}

func TestEventStreamAndWebhooks(t *testing.T) {
	rc := newReceiver(t, "s3cret", 2)
	e := newEnv(t, func(c *Config) {
		c.Webhooks = []Webhook{{URL: rc.srv.URL + "/hook", Secret: "s3cret"}}
	})
	cpe := e.bootstrap("SN-EV")
	st := e.stream(t, "?types=task.finished,device.informed", "")
	r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+devID(cpe)+`", "kind": "Reboot", "run": "now"}`)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var created struct{ IDs []int64 }
	r.json(t, &created)
	informed := st.next(t, EventDeviceInformed, 10*time.Second)
	if informed.DeviceID != devID(cpe) || !strings.Contains(string(informed.Data), "6 CONNECTION REQUEST") {
		t.Fatalf("%+v %s", informed, informed.Data)
	}
	fin := st.next(t, EventTaskFinished, 10*time.Second)
	var data struct {
		TaskID int64  `json:"taskId"`
		State  string `json:"state"`
	}
	_ = json.Unmarshal(fin.Data, &data)
	if data.TaskID != created.IDs[0] || data.State != "done" || fin.DeviceID != devID(cpe) {
		t.Fatalf("%+v %s", fin, fin.Data)
	}
	// The webhook got it too, after its first deliveries failed and were
	// retried with back-off.
	got, _ := rc.waitFor(t, func(ev Event) bool { return ev.ID == fin.ID }, 10*time.Second)
	if got.Type != EventTaskFinished {
		t.Fatalf("%+v", got)
	}
	rc.mu.Lock()
	first := rc.attempts[0]
	bad := rc.badSig
	rc.mu.Unlock()
	if first != "3" || bad != 0 {
		t.Fatalf("first delivery on attempt %s, %d bad signatures", first, bad)
	}
	// A stream that reconnects gets what it missed.
	again := e.stream(t, "?types=task.finished", strconv.FormatUint(fin.ID-1, 10))
	if ev := again.next(t, EventTaskFinished, 2*time.Second); ev.ID != fin.ID {
		t.Fatalf("replayed %+v", ev)
	}
	// A session end (reported by the engine) is an event and a metric.
	e.api.SessionEnded(bg, SessionEnd{SessionID: "s1", DeviceID: devID(cpe), Started: time.Now().Add(-time.Second), Outcome: "ok"})
	all := e.stream(t, "", "1")
	if ev := all.next(t, EventSessionEnded, 2*time.Second); !strings.Contains(string(ev.Data), `"outcome":"ok"`) {
		t.Fatalf("%s", ev.Data)
	}
}

func TestWebhookQueueIsBounded(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	reg := metrics.NewRegistry()
	e := newEnv(t, func(c *Config) {
		c.Webhooks = []Webhook{{URL: srv.URL, Secret: "x"}}
		c.WebhookQueue = 2
		c.Registry = reg
	})
	for range 10 {
		e.api.Publish(EventFault, "d", map[string]int{"code": 1})
	}
	u := strings.TrimPrefix(srv.URL, "http://")
	if n := e.api.webhookCounter.Value(u, "dropped"); n < 7 {
		t.Fatalf("dropped %v of 10 with a queue of 2", n)
	}
}

func TestWebhookConfigChecked(t *testing.T) {
	for _, w := range []Webhook{{URL: "ftp://x", Secret: "s"}, {URL: "http://x"}, {URL: "http://x", Secret: "s", Types: []string{"nope"}}} {
		if _, err := New(Config{Store: newEnv(t).db, Webhooks: []Webhook{w}, Registry: metrics.NewRegistry()}); err == nil {
			t.Errorf("accepted %+v", w)
		}
	}
}

// A stream that cannot keep up is cut off instead of slowing the others.
func TestSlowStreamIsDropped(t *testing.T) {
	h := newHub(16)
	s, _ := h.subscribe(0, nil, "")
	for range 300 {
		h.publish("x", "", nil, time.Now())
	}
	n := 0
	for range s.ch {
		n++
	}
	if !s.lost || n != 256 {
		t.Fatalf("lost=%v after %d events", s.lost, n)
	}
}
