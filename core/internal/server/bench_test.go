package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/server/authtest"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/soap"
	"github.com/provisor/provisor/core/internal/store"
)

// A periodic session is two round trips: Inform → InformResponse, empty
// POST → 204. BenchmarkPeriodicSession runs them through the whole engine
// (decode, session, store write); BenchmarkBaselineHTTPRoundTrips runs the
// same two POSTs against a handler that answers canned bytes, so the ratio
// of the two is what the ACS itself costs over bare HTTP on loopback.
// Client and server share the process, so ns/op counts both sides.

func informBody(serial string) []byte {
	in := &cwmp.Inform{
		DeviceID:     cwmp.DeviceID{Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: serial},
		Events:       []cwmp.EventStruct{{EventCode: cwmp.EventPeriodic}},
		MaxEnvelopes: 1, CurrentTime: time.Now(),
	}
	for i := range 20 {
		in.ParameterList = append(in.ParameterList, cwmp.ParameterValue{Name: fmt.Sprintf("Device.DeviceInfo.X_Param%d", i), Value: cwmp.Uint(uint32(i))})
	}
	in.ParameterList = append(in.ParameterList, cwmp.ParameterValue{Name: "Device.DeviceInfo.SoftwareVersion", Value: cwmp.String("1.0")})
	return soap.Encode(nil, &cwmp.Envelope{Namespace: cwmp.NS10, Header: cwmp.Header{ID: "1", HasID: true}, Body: in}, soap.Options{})
}

func sessionBodies(devices int) [][]byte {
	bodies := make([][]byte, devices)
	for i := range bodies {
		bodies[i] = informBody(fmt.Sprintf("BENCH%05d", i))
	}
	return bodies
}

// oneSession runs a periodic session: Inform, then the empty POST.
func oneSession(b testing.TB, client *http.Client, url string, inform []byte) {
	for _, msg := range [][]byte{inform, nil} {
		resp, err := client.Post(url, "text/xml", bytes.NewReader(msg))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if msg == nil && resp.StatusCode != http.StatusNoContent {
			b.Fatalf("session ended with %d", resp.StatusCode)
		}
	}
}

var newClient = plainClient

func plainClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
}

func runSessions(b *testing.B, url string, bodies [][]byte) {
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // many devices at once, as in production
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		client := newClient()
		for pb.Next() {
			oneSession(b, client, url, bodies[int(next.Add(1))%len(bodies)])
		}
	})
}

func BenchmarkPeriodicSession(b *testing.B) {
	benchPeriodic(b, false)
}

// BenchmarkPeriodicSessionDigest is the same with Digest authentication,
// by CPEs that keep their nonce between sessions (one round trip per
// POST, as without authentication): the difference to
// BenchmarkPeriodicSession is what authentication costs per session.
func BenchmarkPeriodicSessionDigest(b *testing.B) {
	benchPeriodic(b, true)
}

func benchPeriodic(b *testing.B, auth bool) {
	a := startACS(b, b.TempDir()+"/bench.db", session.Config{}, !auth)
	if auth {
		newClient = func() *http.Client {
			jar, _ := cookiejar.New(nil)
			return &http.Client{Jar: jar, Transport: &authtest.Transport{
				Base:  &http.Transport{MaxIdleConnsPerHost: 1},
				Creds: authtest.Credentials{Username: sharedUser, Password: sharedPassword},
			}}
		}
		defer func() { newClient = plainClient }()
	}
	bodies := sessionBodies(1000)
	// Every device is known, so what is measured are periodic sessions with
	// no work.
	for i := range bodies {
		serial := fmt.Sprintf("BENCH%05d", i)
		if err := a.store.UpsertDevice(context.Background(), store.Device{ID: store.DeviceIDFrom("00D0B7", "HomeGW", serial), OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: serial}); err != nil {
			b.Fatal(err)
		}
	}
	runSessions(b, a.url, bodies)
	b.StopTimer()
	_ = a.store.Flush(context.Background())
}

func BenchmarkBaselineHTTPRoundTrips(b *testing.B) {
	resp := soap.Encode(nil, &cwmp.Envelope{Namespace: cwmp.NS10, Header: cwmp.Header{ID: "1", HasID: true}, Body: &cwmp.InformResponse{MaxEnvelopes: 1}}, soap.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", soap.ContentType)
		_, _ = w.Write(resp)
	}))
	defer srv.Close()
	runSessions(b, srv.URL, sessionBodies(1000))
}
