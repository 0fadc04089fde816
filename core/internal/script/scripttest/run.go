package scripttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// Options configure Run.
type Options struct {
	// Dir is the scripts directory; requires resolve inside it.
	Dir string
	// Entries are the entry scripts to run, relative to Dir; empty runs
	// every entry script of Dir.
	Entries []string
	// Profile is the device's data model, "tr181" (default) or "tr098".
	Profile string
	// Sessions lists the events of each session to run, in order.
	Sessions [][]cwmp.EventCode
	// Identity of the device; empty fields take test defaults.
	ID cwmp.DeviceID
	// New makes the device unknown to the ACS, so that discovery reads
	// its whole tree first, as on a real first contact. Otherwise the ACS
	// knows the device's tree from an earlier (simulated) discovery.
	New bool
	// Script overrides engine settings (budgets, error policy); Dir,
	// Entries, Store and Logger are set by Run.
	Script script.Options
	// Verbose adds the session engine's own log lines.
	Verbose bool
	// Files are put into the run's file store before the first session,
	// as an operator stores files through the API, so that scripts can
	// name them in s.device.download({file}).
	Files []File
}

// File is a file for the run's file store.
type File struct {
	// Path is read from disk; Name defaults to its base name.
	Path, Name string
	// Type is the TR-069 file type, e.g. "1 Firmware Upgrade Image".
	Type string
}

// FilesBaseURL is the base of the URLs the run's file store hands out.
// Nothing answers there: the simulated device does not transfer files,
// it reports each transfer done.
const FilesBaseURL = "http://provisor.invalid:7547"

// Result sums up a run.
type Result struct {
	RPCs         int
	ScriptErrors int
	LoadErrors   int
}

// Run loads the scripts, runs the sessions against an in-memory device
// through the real session engine and a throw-away SQLite store, and
// writes what happened to w: the RPCs, the store and tag writes, the
// scripts' log lines, and at the end the changes on the device.
func Run(ctx context.Context, o Options, w io.Writer) (Result, error) {
	var res Result
	if o.Profile == "" {
		o.Profile = "tr181"
	}
	id := o.ID
	if id.Manufacturer == "" {
		id.Manufacturer = "Provisor Labs"
	}
	if id.OUI == "" {
		id.OUI = "00D0B7"
	}
	if id.ProductClass == "" {
		id.ProductClass = "TestCPE"
	}
	if id.SerialNumber == "" {
		id.SerialNumber = "TEST0001"
	}
	if len(o.Sessions) == 0 {
		o.Sessions = [][]cwmp.EventCode{{cwmp.EventBootstrap, cwmp.EventBoot}}
	}
	dev, err := NewDevice(o.Profile, id)
	if err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp("", "provisor-script-test-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)

	rep := &reporter{w: w, verbose: o.Verbose}
	log := slog.New(rep)
	db, err := sqlite.Open(ctx, filepath.Join(tmp, "provisor.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, err
	}
	defer db.Close(context.Background())
	st := &recordingStore{Store: db, rep: rep}

	// A real file store on the throw-away database, so that the file
	// forms of download and upload behave as in the server.
	files, err := filestore.Open(ctx, db, filestore.Options{Dir: filepath.Join(tmp, "files"), BaseURL: FilesBaseURL, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, err
	}
	var stored []store.FileMeta
	for _, f := range o.Files {
		m, err := putFile(ctx, files, f)
		if err != nil {
			return res, err
		}
		stored = append(stored, m)
	}

	so := o.Script
	so.Dir, so.Entries, so.Store, so.Logger, so.PollInterval = o.Dir, o.Entries, st, log, -1
	if so.Files == nil {
		so.Files = files
	}
	eng := script.New(so)
	b, err := eng.Load()
	if err != nil {
		return res, err
	}
	res.LoadErrors = len(b.Errors)
	rep.printf("scripts: %s (%d entry files, %d handlers, %d load errors)\n", o.Dir, len(b.Entries()), len(b.Registrations), len(b.Errors))
	for _, r := range b.Registrations {
		rep.printf("  %-28s %s%s\n", r.Where(), strconv.Quote(r.Event), filterSuffix(r))
	}
	deviceID := store.DeviceIDFrom(id.OUI, id.ProductClass, id.SerialNumber)
	rep.printf("device: %s (%s profile, root %s)\n", deviceID, o.Profile, dev.Root)
	for _, m := range stored {
		rep.printf("file: %s (%s, %d bytes) id=%s\n", m.Name, m.Type, m.Size, m.ID)
	}

	hooks := &hook.Registry{}
	if o.New {
		hooks.Register(hook.StageBuiltin, session.Discovery{})
	} else if err := seed(ctx, db, deviceID, id, dev); err != nil {
		return res, err
	}
	hooks.Register(hook.StageScripts, eng)
	hooks.Register(hook.StageTasks, &session.Tasks{Store: st})
	mgr := session.NewManager(session.Config{}, st, hooks, log)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = mgr.Close(cctx)
		cancel()
	}()
	before := dev.Snapshot()
	dev.Observe = rep.rpc
	post := ManagerPost(mgr)
	for i, events := range o.Sessions {
		names := make([]string, len(events))
		for j, e := range events {
			names[j] = string(e)
		}
		rep.printf("\n== session %d: %s\n", i+1, strings.Join(names, ", "))
		rep.session = true
		sr, err := dev.Session(ctx, post, events...)
		rep.session = false
		if err != nil {
			return res, fmt.Errorf("session %d: %w", i+1, err)
		}
		res.RPCs += len(sr.Calls)
		if extra := extraEvents(sr.Events, events); len(extra) > 0 {
			rep.printf("  (the device added %s)\n", strings.Join(extra, ", "))
		}
	}
	res.ScriptErrors = int(eng.Stats.Errors.Load())
	rep.printf("\n== changes on the device\n")
	after := dev.Snapshot()
	changes := diff(before, after)
	if len(changes) == 0 {
		rep.printf("  (none)\n")
	}
	for _, c := range changes {
		rep.printf("  %s\n", c)
	}
	rep.printf("\n== %d RPCs, %d script errors, %d load errors\n", res.RPCs, res.ScriptErrors, res.LoadErrors)
	return res, nil
}

func putFile(ctx context.Context, files *filestore.Store, f File) (store.FileMeta, error) {
	r, err := os.Open(f.Path)
	if err != nil {
		return store.FileMeta{}, err
	}
	defer r.Close()
	if f.Name == "" {
		f.Name = filepath.Base(f.Path)
	}
	m, err := files.Put(ctx, store.FileMeta{Name: f.Name, Type: f.Type, CreatedBy: "script-test"}, r)
	if err != nil {
		return m, fmt.Errorf("file %s: %w", f.Path, err)
	}
	return m, nil
}

func filterSuffix(r *script.Registration) string {
	s := ""
	if r.Order != 0 {
		s += " order=" + strconv.FormatFloat(r.Order, 'g', -1, 64)
	}
	if r.Filter != "" {
		s += " " + r.Filter
	}
	return s
}

func extraEvents(got []cwmp.EventStruct, asked []cwmp.EventCode) []string {
	var out []string
	for _, e := range got {
		if !slices.Contains(asked, e.EventCode) {
			s := string(e.EventCode)
			if e.CommandKey != "" {
				s += " (" + e.CommandKey + ")"
			}
			out = append(out, s)
		}
	}
	return out
}

// seed stores the device's tree as an earlier discovery would have.
func seed(ctx context.Context, st store.Store, deviceID string, id cwmp.DeviceID, d *Device) error {
	now := time.Now()
	if err := st.UpsertDevice(ctx, store.Device{ID: deviceID, OUI: id.OUI, ProductClass: id.ProductClass, SerialNumber: id.SerialNumber, Manufacturer: id.Manufacturer, FirstInform: now.Add(-24 * time.Hour), LastInform: now.Add(-time.Hour)}); err != nil {
		return err
	}
	d.mu.Lock()
	params := make([]store.Param, 0, len(d.params)+len(d.objects))
	for n, p := range d.params {
		v := p.Value
		if hidden(n) {
			v = ""
		}
		w := store.WritableNo
		if p.Writable {
			w = store.WritableYes
		}
		params = append(params, store.Param{Name: n, Value: v, Type: string(p.Type), Writable: w, ReadAt: now.Add(-time.Hour)})
	}
	for o, del := range d.objects {
		w := store.WritableNo
		if del {
			w = store.WritableYes
		}
		params = append(params, store.Param{Name: o, Object: true, Writable: w})
	}
	d.mu.Unlock()
	return st.UpdateParams(ctx, deviceID, params, nil)
}

func diff(before, after map[string]string) []string {
	var names []string
	for n := range before {
		names = append(names, n)
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out []string
	var gone, added []string
	for _, n := range names {
		b, inB := before[n]
		a, inA := after[n]
		switch {
		case inB && !inA:
			if strings.HasSuffix(n, ".") && !covered(gone, n) {
				gone = append(gone, n)
				out = append(out, "- "+n)
			} else if !strings.HasSuffix(n, ".") && !covered(gone, n) {
				out = append(out, "- "+n)
			}
		case !inB && inA:
			if strings.HasSuffix(n, ".") && !covered(added, n) {
				added = append(added, n)
				out = append(out, "+ "+n)
			} else if !strings.HasSuffix(n, ".") && !covered(added, n) {
				out = append(out, "+ "+n+" = "+strconv.Quote(a))
			}
		case b != a:
			out = append(out, n+": "+strconv.Quote(b)+" -> "+strconv.Quote(a))
		}
	}
	return out
}

func covered(prefixes []string, n string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(n, p) })
}

// reporter writes the run's report; it is also the slog handler that
// picks the scripts' log lines out of everything logged.
type reporter struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	session bool
	attrs   []slog.Attr
	root    *reporter
}

func (r *reporter) base() *reporter {
	if r.root != nil {
		return r.root
	}
	return r
}

func (r *reporter) printf(format string, args ...any) {
	b := r.base()
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(b.w, format, args...)
}

func (r *reporter) Enabled(context.Context, slog.Level) bool { return true }

func (r *reporter) Handle(_ context.Context, rec slog.Record) error {
	var script, event string
	var rest []string
	all := append([]slog.Attr{}, r.attrs...)
	rec.Attrs(func(a slog.Attr) bool { all = append(all, a); return true })
	for _, a := range all {
		switch a.Key {
		case "script":
			script = a.Value.String()
		case "event":
			event = a.Value.String()
		case "device", "session":
		default:
			rest = append(rest, a.Key+"="+quoteIfNeeded(a.Value.String()))
		}
	}
	if script == "" && !r.base().verbose && rec.Level < slog.LevelWarn {
		return nil
	}
	where := script
	if event != "" {
		where += " " + event
	}
	line := fmt.Sprintf("  log %-5s [%s] %s", rec.Level, where, rec.Message)
	if len(rest) > 0 {
		line += " " + strings.Join(rest, " ")
	}
	r.printf("%s\n", line)
	return nil
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return strconv.Quote(s)
	}
	return s
}

func (r *reporter) WithAttrs(as []slog.Attr) slog.Handler {
	return &reporter{root: r.base(), attrs: append(append([]slog.Attr{}, r.attrs...), as...)}
}

func (r *reporter) WithGroup(string) slog.Handler { return r }

// recordingStore reports the writes scripts make besides RPCs.
type recordingStore struct {
	store.Store
	rep *reporter
}

func (s *recordingStore) SetData(ctx context.Context, id, key string, value []byte) error {
	err := s.Store.SetData(ctx, id, key, value)
	s.rep.printf("  store.set %s = %s%s\n", strconv.Quote(key), string(value), errSuffix(err))
	return err
}

func (s *recordingStore) DeleteData(ctx context.Context, id, key string) error {
	err := s.Store.DeleteData(ctx, id, key)
	s.rep.printf("  store.delete %s%s\n", strconv.Quote(key), errSuffix(err))
	return err
}

func (s *recordingStore) AddTags(ctx context.Context, id string, tags ...string) error {
	err := s.Store.AddTags(ctx, id, tags...)
	if err == nil || !isNotFound(err) {
		s.rep.printf("  tag %s%s\n", strings.Join(tags, ", "), errSuffix(err))
	}
	return err
}

func (s *recordingStore) RemoveTags(ctx context.Context, id string, tags ...string) error {
	err := s.Store.RemoveTags(ctx, id, tags...)
	s.rep.printf("  untag %s%s\n", strings.Join(tags, ", "), errSuffix(err))
	return err
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (error: " + err.Error() + ")"
}

// rpc reports one RPC and the device's answer.
func (r *reporter) rpc(x Exchange) {
	var b strings.Builder
	b.WriteString("  -> ")
	b.WriteString(describe(x.Request))
	b.WriteString("\n  <- ")
	b.WriteString(describe(x.Response))
	r.printf("%s\n", b.String())
}

// describe renders a message in one or a few lines for the report.
func describe(body cwmp.Body) string {
	var b strings.Builder
	b.WriteString(body.Method())
	field := func(name, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", name, strconv.Quote(v))
		}
	}
	list := func(lines []string) {
		const max = 20
		for i, l := range lines {
			if i == max {
				fmt.Fprintf(&b, "\n       … %d more", len(lines)-max)
				break
			}
			b.WriteString("\n       ")
			b.WriteString(l)
		}
	}
	switch m := body.(type) {
	case *cwmp.SetParameterValues:
		field("ParameterKey", m.ParameterKey)
		var lines []string
		for _, p := range m.ParameterList {
			lines = append(lines, fmt.Sprintf("%s = %s (%s)", p.Name, strconv.Quote(p.Value.Text), p.Value.Type))
		}
		list(lines)
	case *cwmp.SetParameterValuesResponse:
		fmt.Fprintf(&b, " Status=%d", m.Status)
	case *cwmp.GetParameterValues:
		b.WriteString(" " + strings.Join(m.ParameterNames, ", "))
	case *cwmp.GetParameterValuesResponse:
		var lines []string
		for _, p := range m.ParameterList {
			lines = append(lines, fmt.Sprintf("%s = %s", p.Name, strconv.Quote(p.Value.Text)))
		}
		list(lines)
	case *cwmp.GetParameterNames:
		fmt.Fprintf(&b, " %s NextLevel=%v", strconv.Quote(m.ParameterPath), m.NextLevel)
	case *cwmp.GetParameterNamesResponse:
		fmt.Fprintf(&b, " (%d names)", len(m.ParameterList))
	case *cwmp.AddObject:
		field("ObjectName", m.ObjectName)
		field("ParameterKey", m.ParameterKey)
	case *cwmp.AddObjectResponse:
		fmt.Fprintf(&b, " InstanceNumber=%d Status=%d", m.InstanceNumber, m.Status)
	case *cwmp.DeleteObject:
		field("ObjectName", m.ObjectName)
	case *cwmp.GetParameterAttributes:
		b.WriteString(" " + strings.Join(m.ParameterNames, ", "))
	case *cwmp.SetParameterAttributes:
		var lines []string
		for _, a := range m.ParameterList {
			l := a.Name
			if a.NotificationChange {
				l += fmt.Sprintf(" notification=%d", a.Notification)
			}
			if a.AccessListChange {
				l += " accessList=" + strings.Join(a.AccessList, ",")
			}
			lines = append(lines, l)
		}
		list(lines)
	case *cwmp.Download:
		field("FileType", m.FileType)
		field("URL", m.URL)
		field("CommandKey", m.CommandKey)
		if m.FileSize > 0 {
			fmt.Fprintf(&b, " FileSize=%d", m.FileSize)
		}
		field("TargetFileName", m.TargetFileName)
	case *cwmp.Upload:
		field("FileType", m.FileType)
		field("URL", m.URL)
		field("CommandKey", m.CommandKey)
	case *cwmp.DownloadResponse:
		fmt.Fprintf(&b, " Status=%d", m.Status)
	case *cwmp.UploadResponse:
		fmt.Fprintf(&b, " Status=%d", m.Status)
	case *cwmp.Reboot:
		field("CommandKey", m.CommandKey)
	case *cwmp.ScheduleInform:
		fmt.Fprintf(&b, " DelaySeconds=%d", m.DelaySeconds)
		field("CommandKey", m.CommandKey)
	case *cwmp.Fault:
		fmt.Fprintf(&b, " %d %s", m.Code, strconv.Quote(m.String))
		var lines []string
		for _, p := range m.SetParameterValuesFaults {
			lines = append(lines, fmt.Sprintf("%s: %d %s", p.ParameterName, p.FaultCode, p.FaultString))
		}
		list(lines)
	}
	return b.String()
}
