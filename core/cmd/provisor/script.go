package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/script/scripttest"
)

const scriptUsage = `Usage:
  provisor script check [DIR]          load every script of DIR (default ./scripts),
                                       report errors and list the registered handlers
  provisor script test FILE|DIR [flags]
                                       run scripts against a simulated device, with no
                                       server and no network, and print the RPCs they
                                       send and the changes they make

Run 'provisor script test --help' for the test flags. See docs/scripts.md.
`

// scriptCmd runs `provisor script …`.
func scriptCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, scriptUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "check":
		return scriptCheck(args[1:], stdout, stderr)
	case "test":
		return scriptTest(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, scriptUsage)
		return nil
	}
	fmt.Fprintf(stderr, "provisor script: unknown command %q\n\n%s", args[0], scriptUsage)
	return flag.ErrHelp
}

func scriptCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("script check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, "Usage: provisor script check [DIR]\n") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := "./scripts"
	if fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return flag.ErrHelp
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is no scripts directory", dir)
	}
	b, err := script.Check(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d entry scripts, %d handlers\n", dir, len(b.Entries()), len(b.Registrations))
	for _, r := range b.Registrations {
		line := fmt.Sprintf("  %-28s %s", r.Where(), strconv.Quote(r.Event))
		if r.Order != 0 {
			line += " order=" + strconv.FormatFloat(r.Order, 'g', -1, 64)
		}
		if r.Filter != "" {
			line += " " + r.Filter
		}
		fmt.Fprintln(stdout, line)
	}
	if len(b.Errors) == 0 {
		return nil
	}
	fmt.Fprintf(stdout, "%d errors:\n", len(b.Errors))
	for _, fe := range b.Errors {
		fmt.Fprintf(stdout, "  %s\n", fe)
		if fe.Stack != "" {
			for _, l := range strings.Split(fe.Stack, "\n") {
				fmt.Fprintf(stdout, "      %s\n", l)
			}
		}
	}
	return fmt.Errorf("%d script errors", len(b.Errors))
}

type eventsFlag [][]cwmp.EventCode

func (e *eventsFlag) String() string { return "" }

func (e *eventsFlag) Set(s string) error {
	ev := scripttest.ParseEvents(s)
	if len(ev) == 0 {
		return errors.New("no events")
	}
	*e = append(*e, ev)
	return nil
}

// filesFlag collects --file PATH[,TYPE].
type filesFlag []scripttest.File

func (f *filesFlag) String() string { return "" }

func (f *filesFlag) Set(s string) error {
	p, typ, ok := strings.Cut(s, ",")
	if p = strings.TrimSpace(p); p == "" {
		return errors.New("no path")
	}
	if typ = strings.TrimSpace(typ); !ok || typ == "" {
		typ = guessFileType(p)
	}
	*f = append(*f, scripttest.File{Path: p, Type: typ})
	return nil
}

// guessFileType is the file type of a --file given without one:
// configuration files by their usual extensions, else a firmware image.
func guessFileType(p string) string {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".cfg", ".conf", ".xml", ".alter", ".rsc", ".backup":
		return cwmp.FileVendorConfig
	}
	return cwmp.FileFirmware
}

func scriptTest(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("script test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sessions eventsFlag
	fs.Var(&sessions, "events", "comma-separated events of one session; repeat for more sessions (default \"0 BOOTSTRAP,1 BOOT\")")
	profile := fs.String("profile", "tr181", "data model of the simulated device: "+strings.Join(scripttest.Profiles, " or "))
	serial := fs.String("serial", "TEST0001", "serial number of the device")
	oui := fs.String("oui", "00D0B7", "OUI of the device")
	productClass := fs.String("product-class", "TestCPE", "product class of the device")
	manufacturer := fs.String("manufacturer", "Provisor Labs", "manufacturer of the device")
	isNew := fs.Bool("new", false, "the ACS has never seen the device: discovery reads its whole tree first")
	budget := fs.Duration("budget", 0, "JavaScript time budget per handler (default 2s)")
	onError := fs.String("on-error", "continue", "continue or fault: what an uncaught exception does")
	verbose := fs.Bool("v", false, "also print the session engine's log")
	var files filesFlag
	fs.Var(&files, "file", "put a file into the test's file store, for s.device.download({file}): PATH[,FILE TYPE]; repeat for more\n(type by default: \"3 Vendor Configuration File\" for .cfg .conf .xml .alter .rsc .backup, else \"1 Firmware Upgrade Image\")")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: provisor script test FILE|DIR [flags]\n\nFILE runs one entry script (requires resolve from its directory); DIR runs every\nentry script of a scripts directory.\n\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after the script, as people type them.
	var target string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		if target != "" {
			fs.Usage()
			return flag.ErrHelp
		}
		target = fs.Arg(0)
		args = fs.Args()[1:]
	}
	if target == "" {
		fs.Usage()
		return flag.ErrHelp
	}
	policy, err := script.ParseErrorPolicy(*onError)
	if err != nil {
		return err
	}
	o := scripttest.Options{
		Profile: *profile, Sessions: sessions, New: *isNew, Verbose: *verbose, Files: files,
		ID:     cwmp.DeviceID{Manufacturer: *manufacturer, OUI: *oui, ProductClass: *productClass, SerialNumber: *serial},
		Script: script.Options{HandlerBudget: *budget, OnError: policy},
	}
	st, err := os.Stat(target)
	if err != nil {
		return err
	}
	if st.IsDir() {
		o.Dir = target
	} else {
		o.Dir, o.Entries = filepath.Dir(target), []string{filepath.Base(target)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	res, err := scripttest.Run(ctx, o, stdout)
	if err != nil {
		return err
	}
	if n := res.ScriptErrors + res.LoadErrors; n > 0 {
		return fmt.Errorf("%d script errors", n)
	}
	return nil
}
