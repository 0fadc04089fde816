package scripttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/soap"
)

// PostFunc sends one CWMP message (nil: the empty POST) to the ACS and
// returns the HTTP status and the reply body.
type PostFunc func(ctx context.Context, body []byte) (status int, reply []byte, err error)

// HTTPPost posts to an ACS URL with a cookie jar of its own, as a CPE does.
func HTTPPost(acsURL string) PostFunc {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	return func(ctx context.Context, body []byte) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, acsURL, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		if len(body) > 0 {
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			req.Header.Set("SOAPAction", "")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return resp.StatusCode, data, err
	}
}

var connIDs atomic.Uint64

// ManagerPost hands messages straight to a session manager, with no
// network in between: what `provisor script test` uses.
func ManagerPost(m *session.Manager) PostFunc {
	conn := connIDs.Add(1) + 1<<40
	var mu sync.Mutex
	var cookie string
	return func(ctx context.Context, body []byte) (int, []byte, error) {
		mu.Lock()
		c := cookie
		mu.Unlock()
		r := &session.Request{ConnID: conn, RemoteIP: "127.0.0.1", Body: body}
		if c != "" {
			r.Cookies = []string{c}
		}
		resp := m.Handle(ctx, r)
		if resp.SessionID != "" {
			mu.Lock()
			cookie = resp.SessionID
			mu.Unlock()
		}
		return resp.Status, resp.Body, nil
	}
}

// Exchange is one RPC of a session: what the ACS sent and what the device
// answered.
type Exchange struct {
	Request, Response cwmp.Body
}

// SessionResult is what one session did.
type SessionResult struct {
	Events []cwmp.EventStruct
	Calls  []Exchange
}

// Methods lists the RPC methods the ACS called, in order.
func (r *SessionResult) Methods() []string {
	out := make([]string, len(r.Calls))
	for i, c := range r.Calls {
		out[i] = c.Request.Method()
	}
	return out
}

// informParams are the parameters a device puts in every Inform.
var informParams = []string{
	"DeviceInfo.HardwareVersion", "DeviceInfo.SoftwareVersion", "DeviceInfo.ProvisioningCode",
	"ManagementServer.ConnectionRequestURL", "ManagementServer.ParameterKey",
}

// Session runs one CWMP session with the given events plus what the device
// has pending (a reboot, transfers), and returns the RPCs it answered. The
// session ends at the ACS's empty reply.
func (d *Device) Session(ctx context.Context, post PostFunc, events ...cwmp.EventCode) (*SessionResult, error) {
	d.mu.Lock()
	if d.version != "" {
		if p, ok := d.params[d.Root+"DeviceInfo.SoftwareVersion"]; ok {
			p.Value = d.version
		}
	}
	inform := &cwmp.Inform{DeviceID: d.ID, MaxEnvelopes: 1, CurrentTime: time.Now().UTC().Truncate(time.Second)}
	seen := map[string]bool{}
	add := func(e cwmp.EventStruct) {
		k := string(e.EventCode) + "\x00" + e.CommandKey
		if !seen[k] {
			seen[k] = true
			inform.Events = append(inform.Events, e)
		}
	}
	for _, e := range events {
		add(cwmp.EventStruct{EventCode: e})
	}
	for _, e := range d.pending {
		add(e)
	}
	transfers := d.transfers
	if len(transfers) > 0 {
		add(cwmp.EventStruct{EventCode: cwmp.EventTransferComplete})
	}
	for _, n := range informParams {
		if p, ok := d.params[d.Root+n]; ok {
			inform.ParameterList = append(inform.ParameterList, d.wire(d.Root+n, p))
		}
	}
	d.mu.Unlock()

	res := &SessionResult{Events: inform.Events}
	env, err := d.exchange(ctx, post, &cwmp.Envelope{Header: cwmp.Header{ID: "inform", HasID: true}, Body: inform})
	if err != nil {
		return res, fmt.Errorf("the ACS refused the Inform: %w", err)
	}
	if env == nil || env.Body == nil {
		return res, fmt.Errorf("the ACS ended the session at the Inform")
	}
	if _, ok := env.Body.(*cwmp.InformResponse); !ok {
		return res, fmt.Errorf("the ACS answered the Inform with %s", env.Body.Method())
	}
	d.mu.Lock()
	d.pending = nil
	d.mu.Unlock()
	for i := range transfers {
		env, err := d.exchange(ctx, post, &cwmp.Envelope{Header: cwmp.Header{ID: fmt.Sprintf("tc%d", i), HasID: true}, Body: &transfers[i]})
		if err != nil {
			return res, fmt.Errorf("sending TransferComplete: %w", err)
		}
		if env == nil || env.Body == nil {
			return res, fmt.Errorf("the ACS did not answer a TransferComplete")
		}
		if _, ok := env.Body.(*cwmp.TransferCompleteResponse); !ok {
			return res, fmt.Errorf("the ACS answered a TransferComplete with %s", env.Body.Method())
		}
	}
	d.mu.Lock()
	d.transfers = d.transfers[len(transfers):]
	requests := d.requests
	d.requests = nil
	d.mu.Unlock()
	for i, req := range requests {
		env, err := d.exchange(ctx, post, &cwmp.Envelope{Header: cwmp.Header{ID: fmt.Sprintf("rq%d", i), HasID: true}, Body: req})
		if err != nil {
			return res, fmt.Errorf("%s: %w", req.Method(), err)
		}
		if env == nil || env.Body == nil || env.Body.Method() != req.Method()+"Response" {
			return res, fmt.Errorf("%s answered with %v", req.Method(), env)
		}
	}
	env, err = d.exchange(ctx, post, nil)
	for err == nil && env != nil {
		if env.Body == nil {
			return res, fmt.Errorf("the ACS sent an envelope without a body")
		}
		answer := d.Answer(env.Body)
		x := Exchange{Request: env.Body, Response: answer}
		res.Calls = append(res.Calls, x)
		if d.Observe != nil {
			d.Observe(x)
		}
		env, err = d.exchange(ctx, post, &cwmp.Envelope{Header: env.Header, Body: answer})
	}
	return res, err
}

// exchange posts one message and decodes the reply; a nil envelope means
// the ACS ended the session.
func (d *Device) exchange(ctx context.Context, post PostFunc, env *cwmp.Envelope) (*cwmp.Envelope, error) {
	var body []byte
	if env != nil {
		env.Namespace = cwmp.NS12
		body = soap.Encode(nil, env, soap.Options{})
	}
	status, reply, err := post(ctx, body)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(reply)) == 0 {
		if status != http.StatusNoContent && status != http.StatusOK {
			return nil, fmt.Errorf("ACS answered HTTP %d", status)
		}
		return nil, nil
	}
	out, err := soap.Decode(reply, soap.Limits{})
	if err != nil {
		return nil, fmt.Errorf("decoding the ACS's reply: %w", err)
	}
	if out == nil {
		return nil, nil
	}
	if status != http.StatusOK {
		if f, ok := out.Body.(*cwmp.Fault); ok {
			return nil, fmt.Errorf("ACS answered with %v", f)
		}
		return nil, fmt.Errorf("ACS answered HTTP %d", status)
	}
	return out, nil
}

// ParseEvents splits "0 BOOTSTRAP,1 BOOT" into event codes.
func ParseEvents(list string) []cwmp.EventCode {
	var out []cwmp.EventCode
	for _, e := range strings.Split(list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, cwmp.EventCode(e))
		}
	}
	return out
}
