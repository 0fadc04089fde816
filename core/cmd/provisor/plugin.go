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
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/script"
)

const pluginUsage = `Usage:
  provisor plugin list  [-dir DIR] [-json]                   list the plugins a directory holds, without starting them
  provisor plugin check [-dir DIR] [-write-sums] [-timeout D] verify each plugin and start it once to see what it offers

DIR holds one directory per plugin with its plugin.json (default: $PROVISOR_PLUGINS_DIR, else ./plugins).
-write-sums records each executable's SHA-256 in its plugin.json: run it after building or
installing a plugin you trust; the ACS refuses executables whose checksum does not match.
`

// pluginCmd runs `provisor plugin …`.
func pluginCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("plugin "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, pluginUsage) }
	def := os.Getenv("PROVISOR_PLUGINS_DIR")
	if def == "" {
		def = "./plugins"
	}
	dir := fs.String("dir", def, "plugins directory")
	switch args[0] {
	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return pluginList(*dir, *asJSON, stdout, stderr)
	case "check":
		writeSums := fs.Bool("write-sums", false, "record each executable's SHA-256 in its plugin.json")
		timeout := fs.Duration("timeout", 20*time.Second, "how long each plugin may take to start")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return pluginCheck(*dir, *writeSums, *timeout, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, pluginUsage)
		return nil
	}
	fmt.Fprint(stderr, pluginUsage)
	return fmt.Errorf("unknown plugin command %q", args[0])
}

// listedPlugin is one row of `provisor plugin list`.
type listedPlugin struct {
	ID       string                 `json:"id"`
	Version  string                 `json:"version"`
	Protocol int                    `json:"protocol"`
	Checksum string                 `json:"checksum"` // ok, mismatch, missing, unreadable
	Match    []pluginhost.MatchRule `json:"match,omitempty"`
	Events   []string               `json:"events,omitempty"`
	Dir      string                 `json:"dir"`
}

func checksumState(m *pluginhost.Manifest) string {
	if m.SHA256 == "" {
		return "missing"
	}
	sum, err := m.Checksum()
	switch {
	case err != nil:
		return "unreadable"
	case !strings.EqualFold(sum, m.SHA256):
		return "mismatch"
	}
	return "ok"
}

func matchString(rules []pluginhost.MatchRule) string {
	if len(rules) == 0 {
		return "all devices"
	}
	var parts []string
	for _, r := range rules {
		var f []string
		if r.Manufacturer != "" {
			f = append(f, "manufacturer="+r.Manufacturer)
		}
		if r.OUI != "" {
			f = append(f, "oui="+r.OUI)
		}
		if r.ProductClass != "" {
			f = append(f, "productClass="+r.ProductClass)
		}
		parts = append(parts, strings.Join(f, ","))
	}
	return strings.Join(parts, " | ")
}

func pluginList(dir string, asJSON bool, stdout, stderr io.Writer) error {
	ms, errs := pluginhost.Discover(dir)
	for _, err := range errs {
		fmt.Fprintln(stderr, "provisor: plugin:", err)
	}
	rows := make([]listedPlugin, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, listedPlugin{ID: m.ID, Version: m.Version, Protocol: m.Protocol, Checksum: checksumState(m),
			Match: m.Match, Events: m.Events, Dir: m.Dir})
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tVERSION\tPROTOCOL\tCHECKSUM\tDEVICES\tEVENTS\tDIR")
		for _, r := range rows {
			events := strings.Join(r.Events, ",")
			if events == "" {
				events = "(as the plugin reports)"
			}
			fmt.Fprintf(tw, "%s\t%s\tv%d\t%s\t%s\t%s\t%s\n", r.ID, r.Version, r.Protocol, r.Checksum, matchString(r.Match), events, r.Dir)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d plugin manifest(s) unreadable", len(errs))
	}
	return nil
}

// writeSum records the executable's checksum in the manifest, keeping the
// rest of it.
func writeSum(m *pluginhost.Manifest) (changed bool, err error) {
	sum, err := m.Checksum()
	if err != nil {
		return false, err
	}
	if strings.EqualFold(sum, m.SHA256) {
		return false, nil
	}
	file := filepath.Join(m.Dir, pluginhost.ManifestName)
	raw, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return false, err
	}
	doc["sha256"], _ = json.Marshal(sum)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(file, append(out, '\n'), 0o644); err != nil {
		return false, err
	}
	m.SHA256 = sum
	return true, nil
}

func pluginCheck(dir string, writeSums bool, timeout time.Duration, stdout, stderr io.Writer) error {
	ms, errs := pluginhost.Discover(dir)
	for _, err := range errs {
		fmt.Fprintln(stderr, "provisor: plugin:", err)
	}
	if writeSums {
		for _, m := range ms {
			changed, err := writeSum(m)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", m.ID, err))
				fmt.Fprintf(stderr, "provisor: plugin %s: %v\n", m.ID, err)
			case changed:
				fmt.Fprintf(stdout, "%s: recorded sha256 %s\n", m.ID, m.SHA256)
			}
		}
	}
	if len(ms) == 0 {
		fmt.Fprintf(stdout, "no plugins in %s\n", dir)
		if len(errs) > 0 {
			return fmt.Errorf("%d plugin manifest(s) unreadable", len(errs))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, _ := pluginhost.Start(ctx, pluginhost.Options{Dir: dir, Logger: log, StartTimeout: timeout, HostVersion: version})
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = h.Close(cctx)
	}()
	bad := len(errs)
	for _, p := range h.Plugins() {
		hl := p.Health()
		m := p.Manifest()
		fmt.Fprintf(stdout, "%s %s: %s\n", hl.ID, hl.Version, hl.State)
		fmt.Fprintf(stdout, "  executable    %s (sha256 %s)\n", m.Path(), checksumState(m))
		fmt.Fprintf(stdout, "  devices       %s\n", matchString(m.Match))
		if hl.State != pluginhost.StateRunning {
			bad++
			fmt.Fprintf(stdout, "  error         %s\n", hl.LastError)
			continue
		}
		fmt.Fprintf(stdout, "  capabilities  %s\n", strings.Join(hl.Capabilities, ", "))
		fmt.Fprintf(stdout, "  events        %s\n", strings.Join(hl.Events, ", "))
		if len(m.Events) > 0 {
			for _, e := range hl.Events {
				if !slices.ContainsFunc(m.Events, func(me string) bool { return strings.EqualFold(strings.Join(strings.Fields(me), " "), e) }) {
					fmt.Fprintf(stdout, "  warning       the plugin handles %q, which its manifest's events leave out: it will not be called for it\n", e)
				}
			}
		}
		for _, f := range p.Functions() {
			fmt.Fprintf(stdout, "  function      %s — %s\n", f.Name, f.Doc)
		}
	}
	for _, pr := range h.SessionProfiles() {
		fmt.Fprintf(stdout, "profile %s: manufacturer=%q oui=%q productClass=%q gpvBatchSize=%d maxCWMPVersion=%q transferEndsSession=%q\n",
			pr.Name, pr.Manufacturer, pr.OUI, pr.ProductClass, pr.GPVBatchSize, pr.MaxCWMPVersion, pr.TransferEndsSession)
	}
	if bad > 0 {
		return errors.New("some plugins cannot be used; see above")
	}
	return nil
}

// registerPluginFunctions makes a plugin's exported functions callable
// from scripts as require("provisor/x/<plugin id>").<name>(…). Give it to
// pluginhost.Options.OnStart, so that it runs again with the functions of
// each restarted (or upgraded) plugin process.
func registerPluginFunctions(eng *script.Engine, p *pluginhost.Plugin, log *slog.Logger) {
	funcs := map[string]script.ModuleFunc{}
	for _, f := range p.Functions() {
		name := f.Name
		funcs[name] = func(ctx context.Context, c script.ModuleCall) (any, error) {
			args := make([]json.RawMessage, len(c.Args))
			for i, a := range c.Args {
				b, err := json.Marshal(a)
				if err != nil {
					return nil, err
				}
				args[i] = b
			}
			res, err := p.CallFunction(ctx, pluginhost.FunctionCall{Name: name, Args: args, Session: c.Session})
			if err != nil || len(res) == 0 {
				return nil, err
			}
			return res, nil
		}
	}
	if len(funcs) == 0 {
		eng.UnregisterModule(p.ID())
		return
	}
	if err := eng.RegisterModule(p.ID(), funcs); err != nil {
		log.Error("plugin functions not available to scripts", "plugin", p.ID(), "err", err)
	}
}
