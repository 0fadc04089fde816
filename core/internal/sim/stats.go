package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrorKind classifies why a session failed, for the load report.
type ErrorKind uint8

// Error kinds. ErrNone marks a session that completed.
const (
	ErrNone     ErrorKind = iota
	Err503                // the ACS shed load (HTTP 503)
	ErrAuth               // HTTP 401 the device could not answer
	ErrTimeout            // no answer within the exchange timeout
	ErrFault              // a SOAP Fault in answer to the device's request
	ErrConn               // connection refused, reset or closed early
	ErrHTTP               // any other unexpected HTTP status
	ErrProtocol           // an answer the device could not read or did not expect
	numErrorKinds
)

var errorKindNames = [...]string{"none", "http_503", "http_401", "timeout", "fault", "connection", "http_other", "protocol"}

func (k ErrorKind) String() string {
	if int(k) < len(errorKindNames) {
		return errorKindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// sessionError is why a session failed.
type sessionError struct {
	kind   ErrorKind
	status int
	err    error
}

func (e *sessionError) Error() string {
	s := e.kind.String()
	if e.status != 0 {
		s += " (HTTP " + strconv.Itoa(e.status) + ")"
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *sessionError) Unwrap() error { return e.err }

// classify gives the kind of a session error.
func classify(err error) ErrorKind {
	if err == nil {
		return ErrNone
	}
	var se *sessionError
	if errors.As(err, &se) {
		return se.kind
	}
	if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) {
		return ErrConn
	}
	return ErrProtocol
}

// histogram records durations in log-linear buckets: 64 per power of two,
// so any percentile is within about 1.6% of the true value, from a
// microsecond to an hour, with lock-free atomic increments.
type histogram struct {
	counts [histBuckets]atomic.Uint64
}

const (
	histSub     = 64
	histMin     = time.Microsecond
	histBuckets = 32 * histSub
)

func histIndex(d time.Duration) int {
	v := uint64(d / histMin)
	if v < histSub {
		return int(v)
	}
	exp := bits.Len64(v) - 7 // v >> exp lands in [64, 128)
	i := (exp+1)*histSub + int(v>>exp) - histSub
	return min(i, histBuckets-1)
}

// histValue is the upper bound of bucket i.
func histValue(i int) time.Duration {
	if i < histSub {
		return time.Duration(i+1) * histMin
	}
	exp := i/histSub - 1
	mant := uint64(i%histSub + histSub)
	return time.Duration((mant+1)<<exp) * histMin
}

func (h *histogram) record(d time.Duration) { h.counts[histIndex(max(d, 0))].Add(1) }

// quantiles returns the given quantiles (0..1) of what was recorded.
func (h *histogram) quantiles(qs ...float64) []time.Duration {
	var snap [histBuckets]uint64
	var total uint64
	for i := range h.counts {
		snap[i] = h.counts[i].Load()
		total += snap[i]
	}
	out := make([]time.Duration, len(qs))
	if total == 0 {
		return out
	}
	for k, q := range qs {
		rank := uint64(math.Ceil(q * float64(total)))
		rank = max(rank, 1)
		var seen uint64
		for i, c := range snap {
			seen += c
			if seen >= rank {
				out[k] = histValue(i)
				break
			}
		}
	}
	return out
}

// Stats counts what the simulated devices did. Only sessions that start
// after the warm-up are recorded.
type Stats struct {
	recordFrom atomic.Int64 // unix nanos; sessions starting before are not counted
	recordTo   atomic.Int64 // unix nanos; 0 = open

	Started   atomic.Int64
	Completed atomic.Int64
	Abandoned atomic.Int64 // sessions the device left on purpose (RouterOS after a config file)
	Errors    [numErrorKinds]atomic.Int64
	RPCs      atomic.Int64
	Retries   atomic.Int64 // sessions that carried RetryCount > 0
	Skipped   atomic.Int64 // open-loop arrivals with no idle device to take them
	CRs       atomic.Int64 // connection requests accepted
	CutOff    atomic.Int64 // sessions in flight when the run stopped
	latency   histogram
	latSum    atomic.Int64 // nanoseconds, for the mean
	latMax    atomic.Int64
	firstEnd  atomic.Int64
	lastEnd   atomic.Int64
}

func (s *Stats) recording(start time.Time) bool {
	from, to := s.recordFrom.Load(), s.recordTo.Load()
	n := start.UnixNano()
	return n >= from && (to == 0 || n < to)
}

func (s *Stats) recordSession(start, end time.Time, kind ErrorKind, rpcs int, retry uint32, abandoned bool) {
	if !s.recording(start) {
		return
	}
	if retry > 0 {
		s.Retries.Add(1)
	}
	s.RPCs.Add(int64(rpcs))
	if kind != ErrNone {
		s.Errors[kind].Add(1)
		return
	}
	if abandoned {
		s.Abandoned.Add(1)
	}
	s.Completed.Add(1)
	d := end.Sub(start)
	s.latency.record(d)
	s.latSum.Add(int64(d))
	for {
		m := s.latMax.Load()
		if int64(d) <= m || s.latMax.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	s.firstEnd.CompareAndSwap(0, end.UnixNano())
	for {
		l := s.lastEnd.Load()
		if end.UnixNano() <= l || s.lastEnd.CompareAndSwap(l, end.UnixNano()) {
			break
		}
	}
}

// ErrorCount is the number of failed sessions of all kinds.
func (s *Stats) ErrorCount() int64 {
	var n int64
	for k := ErrNone + 1; k < numErrorKinds; k++ {
		n += s.Errors[k].Load()
	}
	return n
}

// Report is the machine-readable outcome of a run.
type Report struct {
	Scenario        string            `json:"scenario,omitempty"`
	Profile         string            `json:"profile"`
	Mode            string            `json:"mode"`
	Devices         int               `json:"devices"`
	Seed            uint64            `json:"seed"`
	WarmupSeconds   float64           `json:"warmup_seconds"`
	DurationSeconds float64           `json:"duration_seconds"`
	Sessions        int64             `json:"sessions"`
	SessionsPerSec  float64           `json:"sessions_per_second"`
	Abandoned       int64             `json:"abandoned_sessions,omitempty"`
	RetriedSessions int64             `json:"retried_sessions"`
	SkippedArrivals int64             `json:"skipped_arrivals,omitempty"`
	CutOff          int64             `json:"cut_off_sessions,omitempty"`
	RPCsPerSession  float64           `json:"rpcs_per_session"`
	LatencyMS       LatencyReport     `json:"latency_ms"`
	Errors          map[string]int64  `json:"errors"`
	ErrorTotal      int64             `json:"error_total"`
	ACSCPUMSPerSess *float64          `json:"acs_cpu_ms_per_session,omitempty"`
	SimCPUMSPerSess float64           `json:"sim_cpu_ms_per_session"`
	ACSCPUSeconds   *float64          `json:"acs_cpu_seconds,omitempty"`
	SimCPUSeconds   float64           `json:"sim_cpu_seconds"`
	DrainSeconds    float64           `json:"drain_seconds,omitempty"`
	Unfinished      int64             `json:"unfinished_devices,omitempty"`
	Notes           []string          `json:"notes,omitempty"`
	Extra           map[string]string `json:"extra,omitempty"`
}

// LatencyReport gives session latency percentiles in milliseconds.
type LatencyReport struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// WriteSummary prints a report for people.
func (r *Report) WriteSummary(w io.Writer) {
	name := r.Scenario
	if name == "" {
		name = r.Mode
	}
	fmt.Fprintf(w, "%s: %d %s devices, %s mode, %.1fs measured after %.1fs warm-up\n", name, r.Devices, r.Profile, r.Mode, r.DurationSeconds, r.WarmupSeconds)
	fmt.Fprintf(w, "  sessions      %d completed, %.1f/s, %.1f RPCs each", r.Sessions, r.SessionsPerSec, r.RPCsPerSession)
	if r.RetriedSessions > 0 {
		fmt.Fprintf(w, ", %d retries", r.RetriedSessions)
	}
	if r.Abandoned > 0 {
		fmt.Fprintf(w, ", %d abandoned by the device", r.Abandoned)
	}
	switch {
	case r.DrainSeconds > 0 && r.Unfinished == 0:
		fmt.Fprintf(w, ", all done after %.1fs", r.DrainSeconds)
	case r.DrainSeconds > 0:
		fmt.Fprintf(w, ", %d devices unfinished, last success at %.1fs", r.Unfinished, r.DrainSeconds)
	}
	fmt.Fprintln(w)
	l := r.LatencyMS
	fmt.Fprintf(w, "  latency (ms)  p50 %.1f  p95 %.1f  p99 %.1f  max %.1f  mean %.1f\n", l.P50, l.P95, l.P99, l.Max, l.Mean)
	if r.ErrorTotal == 0 {
		fmt.Fprintf(w, "  errors        none\n")
	} else {
		var parts []string
		for k := ErrNone + 1; k < numErrorKinds; k++ {
			if n := r.Errors[k.String()]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
			}
		}
		fmt.Fprintf(w, "  errors        %d: %s\n", r.ErrorTotal, strings.Join(parts, ", "))
	}
	if r.SkippedArrivals > 0 {
		fmt.Fprintf(w, "  skipped       %d arrivals found no idle device\n", r.SkippedArrivals)
	}
	if r.CutOff > 0 {
		fmt.Fprintf(w, "  cut off       %d sessions still running at the end\n", r.CutOff)
	}
	cpu := fmt.Sprintf("simulator %.1fs", r.SimCPUSeconds)
	if r.Sessions > 0 {
		cpu += fmt.Sprintf(" (%.2f ms/session)", r.SimCPUMSPerSess)
	}
	if r.ACSCPUSeconds != nil {
		acs := fmt.Sprintf("ACS %.1fs", *r.ACSCPUSeconds)
		if r.ACSCPUMSPerSess != nil {
			acs += fmt.Sprintf(" (%.2f ms/session)", *r.ACSCPUMSPerSess)
		}
		cpu = acs + ", " + cpu
	}
	fmt.Fprintf(w, "  CPU           %s\n", cpu)
	if v, ok := r.Extra["acs_writer"]; ok {
		fmt.Fprintf(w, "  ACS writer    %s\n", v)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note          %s\n", n)
	}
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times. The kernel
// fixes it at 100 for user space on every architecture Go supports on
// Linux, whatever the internal HZ.
const clockTicks = 100

// ProcessCPU reads the CPU time (user + system) of another process from
// /proc/<pid>/stat.
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may contain anything, so
	// fields are counted from the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}
