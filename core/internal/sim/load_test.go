package sim_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/sim"
)

const informResponse = `<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>`

// quickACS answers every Inform and ends every session at once; check,
// when set, decides whether a request is authorized.
func quickACS(t *testing.T, check func(*http.Request) bool) (*httptest.Server, *atomic.Int64) {
	var informs atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check != nil && !check(r) {
			w.Header().Set("WWW-Authenticate", `Digest realm="acs", qop="auth", nonce="n0nce", algorithm=MD5`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if len(body) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		informs.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, informResponse)
	}))
	t.Cleanup(srv.Close)
	return srv, &informs
}

func TestLoadModes(t *testing.T) {
	cases := []struct {
		name     string
		cfg      sim.Config
		min, max int64
	}{
		// 20/s for one second, after the boots.
		{"open loop", sim.Config{Devices: 10, Mode: sim.ModeOpen, Rate: 20}, 12, 28},
		// Back to back: far more than one session per device.
		{"closed loop", sim.Config{Devices: 4, Mode: sim.ModeClosed}, 40, 1 << 40},
		// Every second ±10%: about one session per device.
		{"periodic", sim.Config{Devices: 10, Mode: sim.ModePeriodic, Interval: time.Second, Jitter: 0.1}, 5, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acs, _ := quickACS(t, nil)
			cfg := c.cfg
			cfg.ACSURL = acs.URL
			cfg.LoopbackOnly = true
			p, _ := sim.LookupProfile("tr181")
			cfg.Profile = p
			s, err := sim.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Run(context.Background(), sim.RunOptions{Settle: true, Duration: time.Second, MaxDuration: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if r.Sessions < c.min || r.Sessions > c.max || r.ErrorTotal != 0 {
				t.Fatalf("%d sessions (want %d..%d), errors %v", r.Sessions, c.min, c.max, r.Errors)
			}
			if r.LatencyMS.P50 <= 0 || r.LatencyMS.P99 < r.LatencyMS.P50 || r.DurationSeconds < 0.9 {
				t.Fatalf("report %+v", r)
			}
		})
	}
}

// TestACSAuthentication: the device answers the ACS's Digest challenge
// with its ManagementServer credentials.
func TestACSAuthentication(t *testing.T) {
	check := func(r *http.Request) bool {
		h := r.Header.Get("Authorization")
		f := map[string]string{}
		for _, part := range strings.Split(strings.TrimPrefix(h, "Digest "), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			f[k] = strings.Trim(v, `"`)
		}
		md := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
		want := md(md("00D0B7-PX-1000-SIM000001:acs:pw") + ":n0nce:" + f["nc"] + ":" + f["cnonce"] + ":auth:" + md("POST:"+f["uri"]))
		return f["username"] == "00D0B7-PX-1000-SIM000001" && f["response"] == want
	}
	for _, c := range []struct {
		pass string
		ok   bool
	}{{"pw", true}, {"wrong", false}} {
		acs, informs := quickACS(t, check)
		s := startSim(t, sim.Config{ACSURL: acs.URL + "/acs", ACSUsername: "%i", ACSPassword: c.pass})
		r := waitSessions(t, s.Device(0), 1)
		if c.ok && (r.Err != nil || informs.Load() != 1) {
			t.Fatalf("with the right password: %+v", r)
		}
		if !c.ok && r.Kind != sim.ErrAuth {
			t.Fatalf("with a wrong password: %+v", r)
		}
	}
}
