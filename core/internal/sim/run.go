package sim

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// RunOptions bound and measure a run.
type RunOptions struct {
	Scenario string
	// Warmup is not measured: devices boot, bootstrap and settle.
	Warmup time.Duration
	// Settle extends the warm-up until every device has completed a
	// session, so that first contacts (and their discovery) stay out of
	// the measurement however slow they are.
	Settle bool
	// Duration is measured after the warm-up; 0 runs until ctx ends or,
	// with SessionsPerDevice, until every device is done.
	Duration time.Duration
	// MinSessions stretches Duration until that many sessions have
	// completed in the measured window (MaxDuration still caps it), so
	// that a short run on a slow or busy machine still measures something.
	MinSessions int64
	// MaxDuration is a hard cap on the whole run (default 1h).
	MaxDuration time.Duration
	// Grace is how long sessions in flight at the end may take to finish
	// (default 10s).
	Grace time.Duration
	// ACSPID, when set, is the ACS process whose CPU time is reported.
	ACSPID int
	// Progress receives a live status line every second; Overwrite
	// rewrites it in place (a terminal) instead of printing one per line.
	Progress  io.Writer
	Overwrite bool
	// OnMeasureStart and OnMeasureStop, when set, are called as the
	// measured window opens and closes (to sample the ACS's own counters
	// over the same window).
	OnMeasureStart, OnMeasureStop func()
}

// Run starts the simulator, runs it as o says and reports what happened.
// The simulator is stopped when Run returns.
func (s *Simulator) Run(ctx context.Context, o RunOptions) (*Report, error) {
	if o.MaxDuration <= 0 {
		o.MaxDuration = time.Hour
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	start := time.Now()
	var (
		cpu0, acs0  time.Duration
		acsErr      error
		measured    bool
		measureFrom time.Time
		end         <-chan time.Time
	)
	beginMeasure := func() {
		measureFrom = time.Now()
		s.stats.recordFrom.Store(measureFrom.UnixNano())
		cpu0 = selfCPU()
		if o.ACSPID > 0 {
			acs0, acsErr = ProcessCPU(o.ACSPID)
		}
		measured = true
		if o.Duration > 0 {
			end = time.After(o.Duration)
		}
		if o.OnMeasureStart != nil {
			o.OnMeasureStart()
		}
	}
	settled := func() bool { return !o.Settle || s.settled.Load() >= int64(len(s.devs)) }
	var warm <-chan time.Time
	if o.Warmup <= 0 && !o.Settle {
		// No warm-up: the very first sessions count.
		beginMeasure()
	} else {
		// Nothing is recorded until the warm-up is over.
		s.stats.recordFrom.Store(math.MaxInt64)
		warm = time.After(o.Warmup)
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	warmedUp := false
	hardStop := time.NewTimer(o.MaxDuration)
	defer hardStop.Stop()
	done := s.Done()
	if s.cfg.SessionsPerDevice == 0 {
		done = nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// While the warm-up waits for devices to settle, look often.
	settle := time.NewTicker(20 * time.Millisecond)
	defer settle.Stop()
	var notes []string
	var lastCompleted int64
loop:
	for {
		select {
		case <-ctx.Done():
			notes = append(notes, "interrupted")
			break loop
		case <-hardStop.C:
			notes = append(notes, fmt.Sprintf("stopped by the %v hard cap", o.MaxDuration))
			break loop
		case <-end:
			if s.stats.Completed.Load() < o.MinSessions {
				end = time.After(20 * time.Millisecond)
				continue
			}
			break loop
		case <-done:
			break loop
		case <-warm:
			warm, warmedUp = nil, true
			if settled() {
				beginMeasure()
			}
		case <-settle.C:
			if !measured && warmedUp && settled() {
				beginMeasure()
			}
			if measured {
				settle.Stop()
			}
		case now := <-tick.C:
			if o.Progress != nil {
				c := s.stats.Completed.Load()
				s.progress(o, now.Sub(start), c-lastCompleted)
				lastCompleted = c
			}
		}
	}
	stop := time.Now()
	if !measured {
		beginMeasure()
		notes = append(notes, "ended during the warm-up; nothing measured")
	}
	cpu1 := selfCPU()
	var acs1 time.Duration
	if o.ACSPID > 0 && acsErr == nil {
		acs1, acsErr = ProcessCPU(o.ACSPID)
	}
	if o.OnMeasureStop != nil {
		o.OnMeasureStop()
	}
	s.stats.recordTo.Store(stop.UnixNano())
	if o.Progress != nil && o.Overwrite {
		fmt.Fprintln(o.Progress)
	}
	s.Drain(o.Grace)

	st := &s.stats
	window := stop.Sub(measureFrom)
	if window < 0 {
		window = 0
	}
	r := &Report{
		Scenario: o.Scenario, Profile: s.prof.Name, Mode: string(s.cfg.Mode), Devices: len(s.devs), Seed: s.cfg.Seed,
		WarmupSeconds: round3(measureFrom.Sub(start).Seconds()), DurationSeconds: round3(window.Seconds()),
		Sessions: st.Completed.Load(), Abandoned: st.Abandoned.Load(), RetriedSessions: st.Retries.Load(),
		SkippedArrivals: st.Skipped.Load(), CutOff: st.CutOff.Load(), Errors: map[string]int64{}, ErrorTotal: st.ErrorCount(), Notes: notes,
	}
	if s.quirks != s.prof.Quirks {
		r.Extra = map[string]string{"quirks": s.quirks.String()}
	}
	for k := ErrNone + 1; k < numErrorKinds; k++ {
		r.Errors[k.String()] = st.Errors[k].Load()
	}
	if window > 0 {
		r.SessionsPerSec = round3(float64(r.Sessions) / window.Seconds())
	}
	if s.cfg.SessionsPerDevice > 0 {
		if last := st.lastEnd.Load(); last > 0 {
			r.DrainSeconds = round3(time.Unix(0, last).Sub(measureFrom).Seconds())
			if r.DrainSeconds > 0 {
				r.SessionsPerSec = round3(float64(r.Sessions) / r.DrainSeconds)
			}
		}
		r.Unfinished = s.remaining.Load()
	}
	all := r.Sessions + r.ErrorTotal
	if all > 0 {
		r.RPCsPerSession = round3(float64(st.RPCs.Load()) / float64(all))
	}
	q := st.latency.quantiles(0.5, 0.95, 0.99)
	// Quantiles are bucket upper bounds; none can exceed the true maximum.
	maxLat := time.Duration(st.latMax.Load())
	for i := range q {
		q[i] = min(q[i], maxLat)
	}
	r.LatencyMS = LatencyReport{P50: ms(q[0]), P95: ms(q[1]), P99: ms(q[2]), Max: ms(maxLat)}
	if r.Sessions > 0 {
		r.LatencyMS.Mean = ms(time.Duration(st.latSum.Load() / r.Sessions))
	}
	simCPU := cpu1 - cpu0
	r.SimCPUSeconds = round3(simCPU.Seconds())
	if r.Sessions > 0 {
		r.SimCPUMSPerSess = round3(float64(simCPU) / 1e6 / float64(r.Sessions))
	}
	if o.ACSPID > 0 {
		if acsErr != nil {
			r.Notes = append(r.Notes, "ACS CPU not measured: "+acsErr.Error())
		} else {
			v := round3((acs1 - acs0).Seconds())
			r.ACSCPUSeconds = &v
			if r.Sessions > 0 {
				per := round3(float64(acs1-acs0) / 1e6 / float64(r.Sessions))
				r.ACSCPUMSPerSess = &per
			}
		}
	}
	return r, nil
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func (s *Simulator) progress(o RunOptions, elapsed time.Duration, last int64) {
	st := &s.stats
	q := st.latency.quantiles(0.95)
	phase := ""
	if s.stats.recordFrom.Load() > time.Now().UnixNano() {
		phase = " (warm-up)"
	}
	line := fmt.Sprintf("[%6.1fs]%s sessions %d (%d/s) live %d errors %d p95 %.1fms",
		elapsed.Seconds(), phase, st.Completed.Load(), last, s.busy(), st.ErrorCount(), ms(q[0]))
	if o.Overwrite {
		fmt.Fprintf(o.Progress, "\r%-78s", line)
	} else {
		fmt.Fprintln(o.Progress, line)
	}
}
