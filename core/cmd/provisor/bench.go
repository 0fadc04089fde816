package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/provisor/provisor/core/internal/config"
	"github.com/provisor/provisor/core/internal/sim"
)

const benchUsage = `Usage: provisor bench [flags]

Runs the standard load scenarios, each against a fresh 'provisor serve' on
loopback (a child process, so that its CPU time is measured apart from the
simulator's):

  periodic-closed-loop  100 known devices, each starting its next periodic
                        session as soon as one ends
  periodic-500x10s      500 devices informing every 10s (±10%)
  first-contact         2,000 new devices, 50 at a time, each bootstrapping
                        with full discovery of its ~870 parameters
  boot-storm            10,000 new devices booting at the same instant

The ACS authenticates the devices with Digest and the shared bootstrap
credential, which it rotates to a per-device one at 0 BOOTSTRAP; its
per-address limits (limits.ip_rate, auth.failure_limit_ip) are lifted, since
every simulated device comes from 127.0.0.1. Traffic goes to loopback only,
and every scenario has a hard time cap. BENCH_SHORT=1 (or --short) runs a
small version of each in a few seconds.

Flags:
`

// loadScenario is one standard benchmark.
type loadScenario struct {
	name string
	cfg  sim.Config
	run  sim.RunOptions
}

func loadScenarios(short bool) []loadScenario {
	tr181, _ := sim.LookupProfile("tr181")
	base := sim.Config{Profile: tr181, Timeout: 30 * time.Second, LoopbackOnly: true, Seed: 1}
	with := func(f func(c *sim.Config)) sim.Config { c := base; f(&c); return c }
	if short {
		return []loadScenario{
			{"periodic-closed-loop", with(func(c *sim.Config) { c.Devices, c.Mode = 10, sim.ModeClosed }),
				sim.RunOptions{Settle: true, Duration: 300 * time.Millisecond, MinSessions: 10, MaxDuration: 30 * time.Second}},
			{"periodic-500x10s", with(func(c *sim.Config) {
				c.Devices, c.Mode, c.Interval, c.Jitter, c.Ramp = 10, sim.ModePeriodic, time.Second, 0.1, 200*time.Millisecond
			}), sim.RunOptions{Settle: true, Duration: time.Second, MinSessions: 5, MaxDuration: 30 * time.Second}},
			{"first-contact", with(func(c *sim.Config) {
				c.Devices, c.Mode, c.SessionsPerDevice, c.MaxInflight = 8, sim.ModeManual, 1, 4
			}), sim.RunOptions{MaxDuration: 30 * time.Second}},
			{"boot-storm", with(func(c *sim.Config) {
				c.Devices, c.Mode, c.SessionsPerDevice, c.RetryMin = 30, sim.ModeManual, 1, 200*time.Millisecond
			}), sim.RunOptions{MaxDuration: 30 * time.Second}},
		}
	}
	return []loadScenario{
		{"periodic-closed-loop", with(func(c *sim.Config) { c.Devices, c.Mode = 100, sim.ModeClosed }),
			sim.RunOptions{Warmup: 3 * time.Second, Settle: true, Duration: 20 * time.Second, MaxDuration: 2 * time.Minute}},
		{"periodic-500x10s", with(func(c *sim.Config) {
			c.Devices, c.Mode, c.Interval, c.Jitter, c.Ramp = 500, sim.ModePeriodic, 10*time.Second, 0.1, 10*time.Second
		}), sim.RunOptions{Warmup: 12 * time.Second, Settle: true, Duration: 30 * time.Second, MaxDuration: 2 * time.Minute}},
		{"first-contact", with(func(c *sim.Config) {
			c.Devices, c.Mode, c.SessionsPerDevice, c.MaxInflight = 2000, sim.ModeManual, 1, 50
		}), sim.RunOptions{MaxDuration: 5 * time.Minute}},
		{"boot-storm", with(func(c *sim.Config) {
			c.Devices, c.Mode, c.SessionsPerDevice, c.MaxInflight = 10000, sim.ModeManual, 1, 10000
		}), sim.RunOptions{MaxDuration: 2 * time.Minute}},
	}
}

// benchResult is the JSON output of a bench run.
type benchResult struct {
	Machine struct {
		CPUs int    `json:"cpus"`
		Go   string `json:"go"`
		OS   string `json:"os"`
		Arch string `json:"arch"`
	} `json:"machine"`
	Short     bool          `json:"short"`
	Scenarios []*sim.Report `json:"scenarios"`
}

// acsProcess is an ACS started for one scenario.
type acsProcess interface {
	URL() string
	PID() int // 0 when it shares this process
	// DebugURL is the base URL of its debug listener (profiles, store
	// counters); empty when it has none.
	DebugURL() string
	Stop() error
}

// The bench ACS authenticates devices as a production one does: Digest
// with the shared bootstrap credential, which it replaces with a device's
// own at 0 BOOTSTRAP. Every session then pays for its 401 challenge.
const (
	benchAuthUser = "provisor-bootstrap"
	benchAuthPass = "bench-bootstrap-secret"
)

// benchCmd runs `provisor bench`.
func benchCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envShort, _ := strconv.ParseBool(os.Getenv("BENCH_SHORT"))
	var (
		short     = fs.Bool("short", envShort, "run the small version of each scenario (env BENCH_SHORT=1)")
		only      = fs.String("scenarios", "", "comma-separated scenarios to run (default all)")
		bin       = fs.String("bin", "", "provisor binary to run as the ACS (default this one)")
		inprocess = fs.Bool("inprocess", false, "run the ACS inside this process (its CPU is then not measured apart)")
		output    = fs.String("o", "text", "report format on stdout: text or json")
		jsonFile  = fs.String("json", "", "also write the JSON results to `file`")
		progress  = fs.Bool("progress", false, "print a progress line every second even when stderr is not a terminal")
		total     = fs.Duration("max-total", 30*time.Minute, "hard cap on the whole run")
		devices   = fs.Int("devices", 0, "run every selected scenario with this many devices instead of its standard number")
		scripts   = fs.String("scripts", "", "scripts directory for the ACS (default none, to measure the engine alone)")
		plugins   = fs.String("plugins", "", "plugins directory for the ACS (default none)")
		profile   = fs.String("pprof", "", "save a CPU profile of the ACS over each scenario's measured window to `file` (-<scenario> is added before the extension when several run)")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("-o %q: want text or json", *output)
	}
	list := loadScenarios(*short)
	if *only != "" {
		want := strings.Split(*only, ",")
		list = slices.DeleteFunc(list, func(s loadScenario) bool { return !slices.Contains(want, s.name) })
		if len(list) != len(want) {
			return fmt.Errorf("unknown scenario in %q", *only)
		}
	}
	if *devices < 0 || *devices > sim.MaxDevices {
		return fmt.Errorf("--devices must be 1 to %d", sim.MaxDevices)
	}
	for i := range list {
		if *devices > 0 {
			list[i].cfg.Devices = *devices
			list[i].cfg.MaxInflight = min(list[i].cfg.MaxInflight, *devices)
		}
	}
	if *profile != "" && *inprocess {
		return errors.New("-pprof needs the ACS in a child process; drop -inprocess")
	}
	if !*inprocess && *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = exe
	}
	simRaiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *total)
	defer cancel()

	res := &benchResult{Short: *short}
	res.Machine.CPUs, res.Machine.Go, res.Machine.OS, res.Machine.Arch = runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH
	if *output == "text" {
		fmt.Fprintf(stdout, "provisor bench on %d CPUs, %s %s/%s\n", res.Machine.CPUs, res.Machine.Go, res.Machine.OS, res.Machine.Arch)
	}
	var failed []string
	for _, sc := range list {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "bench: %s\n", sc.name)
		prof := *profile
		if prof != "" && len(list) > 1 {
			ext := filepath.Ext(prof)
			prof = strings.TrimSuffix(prof, ext) + "-" + sc.name + ext
		}
		r, err := benchScenario(ctx, sc, benchACS{inprocess: *inprocess, bin: *bin, scripts: *scripts, plugins: *plugins}, prof, *progress, stderr)
		if err != nil {
			// One scenario's failure does not lose the others' figures.
			fmt.Fprintf(stderr, "bench: %s: %v\n", sc.name, err)
			failed = append(failed, sc.name)
			continue
		}
		res.Scenarios = append(res.Scenarios, r)
		if *output == "text" {
			fmt.Fprintln(stdout)
			r.WriteSummary(stdout)
		}
	}
	if err := writeSimReports(io.Discard, "json", *jsonFile, res); err != nil {
		return err
	}
	if *output == "json" {
		if err := writeSimReports(stdout, "json", "", res); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}

// benchACS says how to start the ACS under test.
type benchACS struct {
	inprocess bool
	bin       string // provisor binary of a child ACS
	// scripts and plugins are the ACS's directories; empty means none, so
	// that the figures are the engine's own and do not depend on what
	// happens to be in ./scripts.
	scripts, plugins string
}

// benchScenario runs one scenario against a fresh ACS. A server that does
// not stop cleanly afterwards is noted in the report, not fatal: its
// figures stand.
func benchScenario(ctx context.Context, sc loadScenario, b benchACS, profile string, progress bool, stderr io.Writer) (*sim.Report, error) {
	var (
		acs acsProcess
		err error
	)
	if b.inprocess {
		acs, err = startInProcessACS(ctx, b)
	} else {
		acs, err = startChildACS(ctx, b, stderr)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the ACS: %w", err)
	}
	r, err := runScenario(ctx, sc, acs, profile, progress, stderr)
	serr := acs.Stop()
	if err != nil {
		return nil, err
	}
	if serr != nil {
		r.Notes = append(r.Notes, "ACS shutdown: "+serr.Error())
	}
	return r, nil
}

func runScenario(ctx context.Context, sc loadScenario, acs acsProcess, profile string, progress bool, stderr io.Writer) (*sim.Report, error) {
	cfg := sc.cfg
	cfg.ACSURL = acs.URL()
	cfg.ACSUsername, cfg.ACSPassword = benchAuthUser, benchAuthPass
	cfg.CRListen = "127.0.0.1:0"
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := sim.New(cfg)
	if err != nil {
		return nil, err
	}
	o := sc.run
	o.Scenario, o.ACSPID = sc.name, acs.PID()
	if progress || simIsTerminal(stderr) {
		o.Progress, o.Overwrite = stderr, simIsTerminal(stderr)
	}
	var probe *acsProbe
	if base := acs.DebugURL(); base != "" {
		probe = &acsProbe{base: base, profile: profile, seconds: profileSeconds(o)}
		o.OnMeasureStart, o.OnMeasureStop = func() { probe.start(ctx) }, probe.stop
	}
	r, err := s.Run(ctx, o)
	if err != nil || probe == nil {
		return r, err
	}
	if w, err := probe.writer(); err != nil {
		r.Notes = append(r.Notes, "ACS writer counters: "+err.Error())
	} else {
		if r.Extra == nil {
			r.Extra = map[string]string{}
		}
		r.Extra["acs_writer"] = w
	}
	if err := probe.profileErr(); err != nil {
		r.Notes = append(r.Notes, "ACS profile: "+err.Error())
	} else if profile != "" {
		r.Notes = append(r.Notes, "ACS CPU profile in "+profile)
	}
	return r, nil
}

// profileSeconds is the length of the CPU profile taken of a scenario: its
// measured window, or 20s for scenarios that run until done.
func profileSeconds(o sim.RunOptions) int {
	if o.Duration > 0 {
		return max(1, int(o.Duration.Round(time.Second)/time.Second))
	}
	return 20
}

// childACS is `provisor serve` in a child process.
type childACS struct {
	cmd   *exec.Cmd
	addr  string
	debug string // its debug listener
	dir   string
	done  chan error
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startChildACS(ctx context.Context, b benchACS, stderr io.Writer) (*childACS, error) {
	dir, err := os.MkdirTemp("", "provisor-bench-")
	if err != nil {
		return nil, err
	}
	scripts, err := benchScriptsDir(dir, b.scripts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dport, err := freeLoopbackPort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	debug := "127.0.0.1:" + strconv.Itoa(dport)
	cmd := exec.Command(b.bin, "serve")
	cmd.Env = append(os.Environ(), "PROVISOR_LISTEN="+addr, "PROVISOR_DATA_DIR="+dir, "PROVISOR_LOG_LEVEL=warn", "PROVISOR_CONFIG=",
		// Loopback only, and on ports of its own, so that runs side by
		// side (or a local ACS on :7557) do not collide.
		"PROVISOR_API_LISTEN=127.0.0.1:0", "PROVISOR_DEBUG_LISTEN="+debug,
		"PROVISOR_SCRIPTS_DIR="+scripts, "PROVISOR_PLUGINS_DIR="+b.plugins,
		"PROVISOR_AUTH_USERNAME="+benchAuthUser, "PROVISOR_AUTH_PASSWORD="+benchAuthPass,
		// Every simulated device comes from 127.0.0.1: limits meant for one
		// address per device would throttle the whole fleet.
		"PROVISOR_LIMITS_IP_RATE=0", "PROVISOR_AUTH_FAILURE_LIMIT_IP=1000000")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &childACS{cmd: cmd, addr: addr, debug: debug, dir: dir, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case err := <-c.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("provisor serve exited: %v", err)
		case <-ctx.Done():
			_ = c.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.Stop()
			return nil, errors.New("provisor serve did not listen within 15s")
		}
	}
}

func (c *childACS) URL() string      { return "http://" + c.addr + "/" }
func (c *childACS) PID() int         { return c.cmd.Process.Pid }
func (c *childACS) DebugURL() string { return "http://" + c.debug }

// Stop ends the server we started, by its pid: SIGTERM, then SIGKILL if
// it has not finished its graceful shutdown in time.
func (c *childACS) Stop() error {
	defer os.RemoveAll(c.dir)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("provisor serve: %v", err)
		}
		return nil
	case <-time.After(40 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("provisor serve did not stop on SIGTERM; killed")
	}
}

// inProcessACS runs the server code of `provisor serve` in this process.
type inProcessACS struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
	dir    string
}

func startInProcessACS(ctx context.Context, b benchACS) (*inProcessACS, error) {
	dir, err := os.MkdirTemp("", "provisor-bench-")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	if cfg.ScriptsDir, err = benchScriptsDir(dir, b.scripts); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg.PluginsDir = b.plugins
	cfg.Listen, cfg.DataDir, cfg.Database, cfg.LogLevel = "127.0.0.1:0", dir, filepath.Join(dir, "provisor.db"), "warn"
	// Not the default :7557, which another ACS on the machine may hold.
	cfg.APIListen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.AuthUsername, cfg.AuthPassword = benchAuthUser, benchAuthPass
	cfg.IPRate, cfg.AuthFailureLimitIP = 0, 1_000_000
	log := newLogger(cfg, os.Stderr)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan net.Addr, 1)
	a := &inProcessACS{cancel: cancel, done: make(chan error, 1), dir: dir}
	go func() { a.done <- run(rctx, cfg, log, ready) }()
	select {
	case addr := <-ready:
		a.addr = addr.String()
		return a, nil
	case err := <-a.done:
		cancel()
		os.RemoveAll(dir)
		return nil, err
	case <-time.After(15 * time.Second):
		_ = a.Stop()
		return nil, errors.New("the ACS did not start within 15s")
	}
}

func (a *inProcessACS) URL() string      { return "http://" + a.addr + "/" }
func (a *inProcessACS) PID() int         { return 0 }
func (a *inProcessACS) DebugURL() string { return "" }

func (a *inProcessACS) Stop() error {
	defer os.RemoveAll(a.dir)
	a.cancel()
	return <-a.done
}

// benchScriptsDir is the scripts directory the ACS runs with: the one
// given, made absolute for the child's sake, or an empty one in dir.
func benchScriptsDir(dir, given string) (string, error) {
	if given != "" {
		return filepath.Abs(given)
	}
	empty := filepath.Join(dir, "scripts")
	return empty, os.Mkdir(empty, 0o750)
}
