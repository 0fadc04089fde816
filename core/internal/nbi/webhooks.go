package nbi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Webhook is an HTTP endpoint that receives every event (or the listed
// types) as a JSON POST.
//
// Each delivery carries X-Provisor-Event, X-Provisor-Delivery (the event
// ID), X-Provisor-Timestamp (Unix seconds) and X-Provisor-Signature:
// "sha256=" and the hex HMAC-SHA256, keyed with Secret, of the timestamp,
// a ".", and the body. Receivers recompute it and reject old timestamps to
// stop replays. A delivery that fails (network error, 5xx, 429) is retried
// with doubling back-off; other 4xx answers are final. Events wait in a
// bounded queue per webhook; when it is full, new events are dropped and
// counted rather than let a dead receiver hold memory.
type Webhook struct {
	URL    string
	Secret string
	Types  []string
}

type webhook struct {
	s      *Server
	cfg    Webhook
	label  string
	q      chan Event
	client *http.Client
}

func (s *Server) newWebhook(w Webhook) (*webhook, error) {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %q: want an http(s) URL", w.URL)
	}
	if w.Secret == "" {
		return nil, fmt.Errorf("webhook %s: a secret is required to sign deliveries", u.Redacted())
	}
	for _, t := range w.Types {
		if !slices.Contains(EventTypes, t) {
			return nil, fmt.Errorf("webhook %s: unknown event type %q", u.Redacted(), t)
		}
	}
	wh := &webhook{s: s, cfg: w, label: u.Host, q: make(chan Event, s.cfg.WebhookQueue),
		client: &http.Client{Timeout: 10 * time.Second}}
	s.events.sinks = append(s.events.sinks, wh.enqueue)
	return wh, nil
}

var errPermanent = errors.New("permanent failure")

func (wh *webhook) enqueue(e Event) {
	if len(wh.cfg.Types) > 0 && !slices.Contains(wh.cfg.Types, e.Type) {
		return
	}
	select {
	case wh.q <- e:
	default:
		wh.s.webhookResult(wh.label, "dropped")
	}
}

func (wh *webhook) run() {
	for {
		select {
		case <-wh.s.ctx.Done():
			return
		case e := <-wh.q:
			wh.deliver(e)
		}
	}
}

// Sign computes the X-Provisor-Signature value of a delivery.
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (wh *webhook) deliver(e Event) {
	body, _ := json.Marshal(e)
	backoff := wh.s.cfg.WebhookBackoff
	for attempt := 1; ; attempt++ {
		err := wh.post(e, body, attempt)
		if err == nil {
			wh.s.webhookResult(wh.label, "ok")
			return
		}
		if errors.Is(err, errPermanent) || attempt >= wh.s.cfg.WebhookAttempts {
			wh.s.webhookResult(wh.label, "failed")
			wh.s.log.Warn("webhook delivery abandoned", "webhook", wh.label, "event", e.ID, "attempts", attempt, "err", err)
			return
		}
		wh.s.webhookResult(wh.label, "retry")
		t := time.NewTimer(backoff)
		select {
		case <-wh.s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func (wh *webhook) post(e Event, body []byte, attempt int) error {
	req, err := http.NewRequestWithContext(wh.s.ctx, http.MethodPost, wh.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	ts := wh.s.cfg.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "provisor-webhook")
	req.Header.Set("X-Provisor-Event", e.Type)
	req.Header.Set("X-Provisor-Delivery", strconv.FormatUint(e.ID, 10))
	req.Header.Set("X-Provisor-Attempt", strconv.Itoa(attempt))
	req.Header.Set("X-Provisor-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Provisor-Signature", Sign(wh.cfg.Secret, ts, body))
	resp, err := wh.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return fmt.Errorf("%w: receiver answered %d", errPermanent, resp.StatusCode)
}
