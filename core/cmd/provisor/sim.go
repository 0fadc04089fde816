package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/provisor/provisor/core/internal/sim"
)

const simUsage = `Usage: provisor sim --acs URL [flags]

Simulates 1 to 100,000 TR-069 devices against an ACS. Each device has its
own identity, parameter tree, events, retry state, cookies and connection
request URL (one shared listener, Digest-authenticated), and answers every
RPC as a CPE of its profile would.

Modes:
  periodic  each device informs at its PeriodicInformInterval (± jitter)
  closed    each device starts its next session as soon as one ends
  open      sessions start at --rate per second across the fleet
  manual    sessions only for events: boot, connection requests, transfers,
            schedules, value changes

With --duration the run is measured after --warmup and reported: sessions/s,
session latency percentiles, errors by kind, CPU per session of the
simulator and (with --acs-pid) of the ACS.

Flags:
`

// simCmd runs `provisor sim`.
func simCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		acsURL       = fs.String("acs", "", "ACS `URL` the devices inform (required)")
		devices      = fs.Int("devices", 1, "number of devices, 1 to 100000")
		profile      = fs.String("profile", "tr181", "device profile: "+strings.Join(sim.ProfileNames(), ", "))
		serial       = fs.String("serial", "", "serial number `pattern` with a fmt verb for the device number (default per profile, tr181: SIM%06d)")
		first        = fs.Int("first", 1, "number of the first device")
		oui          = fs.String("oui", "", "override the profile's OUI")
		productClass = fs.String("product-class", "", "override the profile's ProductClass")
		manufacturer = fs.String("manufacturer", "", "override the profile's Manufacturer")
		seed         = fs.Uint64("seed", 1, "seed for jitter, counters, MAC addresses and tokens")
		mode         = fs.String("mode", "periodic", "periodic, closed, open or manual")
		interval     = fs.Duration("interval", 5*time.Minute, "factory PeriodicInformInterval")
		jitter       = fs.Float64("jitter", 0.1, "spread periodic informs by ± this fraction of the interval")
		think        = fs.Duration("think", 0, "pause between sessions in closed mode")
		rate         = fs.Float64("rate", 0, "sessions per second across the fleet in open mode")
		ramp         = fs.Duration("ramp", 0, "spread the devices' first boots over this long (0: all at once)")
		perDevice    = fs.Int("sessions-per-device", 0, "stop each device after this many successful sessions; the run ends when all have")
		inflight     = fs.Int("max-inflight", 0, "most concurrent sessions (default min(devices, 10000))")
		duration     = fs.Duration("duration", 0, "measure for this long after the warm-up, then stop (0: until interrupted)")
		warmup       = fs.Duration("warmup", 0, "unmeasured time at the start")
		maxDuration  = fs.Duration("max-duration", 24*time.Hour, "hard cap on the whole run")
		timeout      = fs.Duration("timeout", 30*time.Second, "wait for each ACS answer")
		retryMin     = fs.Duration("retry-min", 5*time.Second, "factory CWMPRetryMinimumWaitInterval")
		retryMul     = fs.Float64("retry-multiplier", 2, "factory CWMPRetryIntervalMultiplier (as a factor)")
		bootDelay    = fs.Duration("boot-delay", time.Second, "how long a reboot takes")
		traffic      = fs.Duration("traffic-interval", 30*time.Second, "how often counters advance for parameters with notification on")
		crListen     = fs.String("cr-listen", "127.0.0.1:0", "connection request listener `address` shared by all devices; \"off\" for none")
		crUser       = fs.String("cr-username", "%s", "factory connection request user name (%s: serial)")
		crPass       = fs.String("cr-password", "sim", "factory connection request password (%s: serial)")
		acsUser      = fs.String("acs-username", "", "user name for the ACS's HTTP authentication (%s: serial, %i: device ID)")
		acsPass      = fs.String("acs-password", "", "password for the ACS's HTTP authentication")
		quirks       = fs.String("quirks", "", "change quirk switches: name to set, -name to clear, none to clear all; known: "+strings.Join(sim.QuirkNames(), ", "))
		insecure     = fs.Bool("insecure", false, "do not verify the ACS's TLS certificate")
		loopback     = fs.Bool("loopback-only", false, "refuse every connection to an address that is not loopback")
		acsPID       = fs.Int("acs-pid", 0, "`pid` of the ACS process, for its CPU time per session")
		output       = fs.String("o", "text", "report format on stdout: text or json")
		jsonFile     = fs.String("json", "", "also write the JSON report to `file`")
		progress     = fs.Bool("progress", false, "print a progress line every second even when stderr is not a terminal")
		logLevel     = fs.String("log-level", "warn", "debug, info, warn or error")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, simUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *acsURL == "" {
		fs.Usage()
		return errors.New("--acs is required")
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("-o %q: want text or json", *output)
	}
	p, err := sim.LookupProfile(*profile)
	if err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if *crListen == "off" {
		*crListen = ""
	}
	simRaiseFileLimit()
	cfg := sim.Config{
		ACSURL: *acsURL, Profile: p, Devices: *devices, First: *first,
		SerialPattern: *serial, OUI: *oui, ProductClass: *productClass, Manufacturer: *manufacturer,
		Seed: *seed, Mode: sim.Mode(*mode), Interval: *interval, Jitter: *jitter, Think: *think, Rate: *rate,
		Ramp: *ramp, SessionsPerDevice: *perDevice, MaxInflight: *inflight, Timeout: *timeout,
		RetryMin: *retryMin, RetryMultiplier: *retryMul, BootDelay: *bootDelay, TrafficInterval: *traffic,
		CRListen: *crListen, CRUsername: *crUser, CRPassword: *crPass,
		ACSUsername: *acsUser, ACSPassword: *acsPass, Quirks: *quirks, Insecure: *insecure,
		LoopbackOnly: *loopback, Log: log,
	}
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opts := sim.RunOptions{Warmup: *warmup, Duration: *duration, MaxDuration: *maxDuration, ACSPID: *acsPID}
	if *progress || simIsTerminal(stderr) {
		opts.Progress, opts.Overwrite = stderr, simIsTerminal(stderr)
	}
	r, err := s.Run(ctx, opts)
	if err != nil {
		return err
	}
	return writeSimReports(stdout, *output, *jsonFile, r)
}

// writeSimReports prints reports as text or JSON and optionally saves the
// JSON to a file.
func writeSimReports[T any](stdout io.Writer, format, file string, v T) error {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if file != "" {
		if err := os.WriteFile(file, js, 0o644); err != nil {
			return err
		}
	}
	if format == "json" {
		_, err := stdout.Write(js)
		return err
	}
	switch r := any(v).(type) {
	case *sim.Report:
		r.WriteSummary(stdout)
	case *benchResult:
		fmt.Fprintf(stdout, "provisor bench on %d CPUs, %s %s/%s\n", r.Machine.CPUs, r.Machine.Go, r.Machine.OS, r.Machine.Arch)
		for _, x := range r.Scenarios {
			fmt.Fprintln(stdout)
			x.WriteSummary(stdout)
		}
	}
	return nil
}

func simIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// raiseFileLimit lifts the soft limit on open files to the hard one: every
// session in flight holds a socket, and a boot storm has thousands.
func simRaiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
