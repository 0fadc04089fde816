package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/sim"
)

// TestBenchShort runs the short version of every standard load scenario
// against the real server code, so that `make bench` cannot rot: each
// scenario must complete sessions without a single error.
func TestBenchShort(t *testing.T) {
	var out, errs bytes.Buffer
	start := time.Now()
	if err := benchCmd([]string{"--short", "--inprocess", "-o", "json"}, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	t.Logf("short bench took %v", time.Since(start).Round(time.Millisecond))
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !res.Short || len(res.Scenarios) != 4 {
		t.Fatalf("%+v", res)
	}
	for _, r := range res.Scenarios {
		if r.Sessions == 0 || r.ErrorTotal != 0 || r.SessionsPerSec <= 0 || r.LatencyMS.P50 <= 0 {
			t.Errorf("%s: %d sessions, %d errors %v, %.1f/s, p50 %.1fms, notes %v", r.Scenario, r.Sessions, r.ErrorTotal, r.Errors, r.SessionsPerSec, r.LatencyMS.P50, r.Notes)
		}
		if strings.HasPrefix(r.Scenario, "first-contact") && r.RPCsPerSession < 10 {
			t.Errorf("first contact without discovery: %.1f RPCs per session", r.RPCsPerSession)
		}
	}
	var text bytes.Buffer
	if err := writeSimReports(&text, "text", "", &res); err != nil || !strings.Contains(text.String(), "boot-storm") {
		t.Fatalf("summary %v %q", err, text.String())
	}
}

// TestSimCommand runs `provisor sim` for a measured second against a stub
// ACS that ends every session at once.
func TestSimCommand(t *testing.T) {
	acs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		if b.Len() == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>`))
	}))
	defer acs.Close()
	var out, errs bytes.Buffer
	args := []string{"--acs", acs.URL, "--devices", "5", "--mode", "closed", "--warmup", "200ms", "--duration", "800ms", "-o", "json", "--loopback-only"}
	if err := simCmd(args, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	var r sim.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if r.Sessions == 0 || r.ErrorTotal != 0 || r.Devices != 5 || r.Mode != "closed" {
		t.Fatalf("%+v", r)
	}
	// Bench mode refuses a target that is not loopback.
	err := simCmd([]string{"--acs", "http://192.0.2.1/", "--loopback-only"}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback target: %v", err)
	}
	if err := simCmd([]string{"--help"}, &out, &errs); err == nil || !strings.Contains(errs.String(), "Usage: provisor sim") {
		t.Fatalf("help: %v", err)
	}
}

// TestBenchChildProfile runs one short scenario against a child ACS (this
// test binary, as `provisor serve`) and checks what the debug listener
// adds: the writer's counters over the window and a CPU profile.
func TestBenchChildProfile(t *testing.T) {
	t.Setenv("PROVISOR_TEST_SERVE", "1") // the child serves; see TestMain
	prof := filepath.Join(t.TempDir(), "acs.prof")
	var out, errs bytes.Buffer
	args := []string{"--short", "-scenarios", "periodic-closed-loop", "-bin", os.Args[0], "-pprof", prof, "-o", "json"}
	if err := benchCmd(args, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Scenarios) != 1 {
		t.Fatalf("%v\n%s", err, out.String())
	}
	r := res.Scenarios[0]
	if r.Sessions == 0 || r.ErrorTotal != 0 || r.ACSCPUMSPerSess == nil {
		t.Fatalf("%+v", r)
	}
	if w := r.Extra["acs_writer"]; !strings.Contains(w, "batches") {
		t.Errorf("writer counters %q, notes %v", w, r.Notes)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Errorf("profile: %v, notes %v", err, r.Notes)
	}
}
