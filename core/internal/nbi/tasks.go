package nbi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/datamodel"
	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
)

// TaskKinds are the kinds a task can be created with: the RPCs an ACS may
// send, and the two that are no RPC.
var TaskKinds = []string{
	"GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues",
	"GetParameterAttributes", "SetParameterAttributes", "AddObject", "DeleteObject",
	"Reboot", "FactoryReset", "Download", "Upload", "ScheduleInform", "ScheduleDownload",
	"CancelTransfer", "GetQueuedTransfers", "GetAllQueuedTransfers", "ChangeDUState",
	store.KindRefresh, store.KindConnectionRequest, store.KindPlugin,
}

// maxPluginArgs bounds the arguments of a plugin function task.
const maxPluginArgs = 32

type apiTask struct {
	ID                int64           `json:"id"`
	DeviceID          string          `json:"deviceId"`
	Kind              string          `json:"kind"`
	Args              json.RawMessage `json:"args,omitempty"`
	State             string          `json:"state"`
	Attempts          int             `json:"attempts"`
	MaxAttempts       int             `json:"maxAttempts"`
	CommandKey        string          `json:"commandKey,omitempty"`
	Expires           *time.Time      `json:"expires,omitempty"`
	Created           time.Time       `json:"created"`
	Updated           time.Time       `json:"updated"`
	Result            json.RawMessage `json:"result,omitempty"`
	Fault             *apiTaskFault   `json:"fault,omitempty"`
	ConnectionRequest *apiConnReq     `json:"connectionRequest,omitempty"`
}

type apiTaskFault struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

func toAPITask(t store.Task) apiTask {
	out := apiTask{ID: t.ID, DeviceID: t.DeviceID, Kind: t.Kind, Args: t.Args, State: string(t.State),
		Attempts: t.Attempts, MaxAttempts: t.MaxAttempts, CommandKey: t.CommandKey, Expires: timePtr(t.Expires),
		Created: t.Created, Updated: t.Updated, Result: t.Result}
	if t.Fault != nil {
		out.Fault = &apiTaskFault{Code: t.Fault.Code, Message: t.Fault.Message, Detail: t.Fault.Detail}
	}
	return out
}

type createTaskBody struct {
	Device      string          `json:"device"`
	Filter      json.RawMessage `json:"filter"`
	Kind        string          `json:"kind"`
	Plugin      string          `json:"plugin"`
	Function    string          `json:"function"`
	Args        json.RawMessage `json:"args"`
	File        string          `json:"file"`
	Run         string          `json:"run"`
	Expires     *time.Time      `json:"expires"`
	ExpiresIn   string          `json:"expiresIn"`
	MaxAttempts *int            `json:"maxAttempts"`
	DryRun      bool            `json:"dryRun"`
}

// Run modes of a new task.
const (
	RunNextInform = "next-inform"
	RunNow        = "now"
)

// taskSpec is a validated creation request, ready to be made per device.
type taskSpec struct {
	kind       string
	proto      cwmp.Body // nil for refresh and connectionRequest
	args       json.RawMessage
	expires    time.Time
	maxAtt     int
	hasKey     bool // the method carries a CommandKey
	uploadURL  bool // Upload without a URL: one is made per device
	refreshArg string
	plugin     hook.PluginTask // for KindPlugin
}

func (s *Server) createTasks(w http.ResponseWriter, r *http.Request) error {
	var b createTaskBody
	if err := decodeJSON(r, s.cfg.MaxBodyBytes, &b); err != nil {
		return err
	}
	spec, err := s.taskSpec(r.Context(), &b)
	if err != nil {
		return err
	}
	note(r, "kind", b.Kind)
	if b.Kind == store.KindPlugin {
		note(r, "function", b.Plugin+"."+b.Function)
	}
	// Which devices.
	var rows []store.DeviceRow
	switch {
	case b.Device != "" && b.Filter != nil:
		return badParam("filter", "give device or filter, not both")
	case b.Device != "":
		target(r, b.Device)
		row, err := s.device(r.Context(), b.Device, nil)
		if err != nil {
			if p, ok := err.(*Problem); ok && p.Status == http.StatusNotFound {
				return notFound("device", "device "+quote(b.Device))
			}
			return err
		}
		rows = []store.DeviceRow{row}
	case b.Filter != nil:
		// Decoded on its own so that errors name fields inside it.
		var f apiFilter
		if err := strictUnmarshal(b.Filter, &f); err != nil {
			return jsonProblem(err, "filter")
		}
		q, err := f.toQuery("filter.")
		if err != nil {
			return err
		}
		note(r, "filter", f)
		if rows, err = s.matchAll(r.Context(), q); err != nil {
			return err
		}
	default:
		return badParam("device", "give the device ID, or a filter")
	}
	if b.DryRun {
		writeJSON(w, http.StatusOK, map[string]any{"count": len(rows), "dryRun": true})
		return nil
	}
	tasks := make([]store.Task, 0, len(rows))
	for _, row := range rows {
		t, err := s.buildTask(spec, row.ID)
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
	}
	ids, err := s.st.AddTasks(r.Context(), tasks)
	if err != nil {
		return err
	}
	note(r, "count", len(ids))
	if len(ids) == 1 {
		target(r, rows[0].ID+" task "+strconv.FormatInt(ids[0], 10))
		w.Header().Set("Location", "/api/v1/tasks/"+strconv.FormatInt(ids[0], 10))
	}
	if b.Run == RunNow {
		for _, row := range rows {
			s.wake(row.Device)
		}
	}
	if ids == nil {
		ids = []int64{}
	}
	run := b.Run
	if run == "" {
		run = RunNextInform
	}
	writeJSON(w, http.StatusCreated, map[string]any{"count": len(ids), "ids": ids, "run": run})
	return nil
}

// matchAll collects every device a filter matches, up to MaxBulkDevices.
func (s *Server) matchAll(ctx context.Context, q store.DeviceQuery) ([]store.DeviceRow, error) {
	s.fillOnline(&q)
	q.Limit, q.ScanBudget = 10000, 10000
	var rows []store.DeviceRow
	for {
		page, err := s.st.QueryDevices(ctx, q)
		if err != nil {
			return nil, err
		}
		rows = append(rows, page.Devices...)
		if len(rows) > s.cfg.MaxBulkDevices {
			return nil, badParam("filter", "matches more than %d devices; narrow it", s.cfg.MaxBulkDevices)
		}
		if page.Next == "" {
			return rows, nil
		}
		q.Cursor = page.Next
	}
}

func (s *Server) taskSpec(ctx context.Context, b *createTaskBody) (*taskSpec, error) {
	if b.Kind == "" {
		return nil, badParam("kind", "required; one of %s", strings.Join(TaskKinds, ", "))
	}
	if !contains(TaskKinds, b.Kind) {
		return nil, badParam("kind", "unknown kind %q; one of %s", b.Kind, strings.Join(TaskKinds, ", "))
	}
	spec := &taskSpec{kind: b.Kind}
	switch b.Run {
	case "", RunNextInform:
	case RunNow:
		if s.cfg.ConnReq == nil {
			return nil, problem(http.StatusConflict, "no-connection-requests", "connection requests are not enabled on this server")
		}
	default:
		return nil, badParam("run", "want %q or %q", RunNow, RunNextInform)
	}
	now := s.cfg.Now()
	switch {
	case b.Expires != nil && b.ExpiresIn != "":
		return nil, badParam("expiresIn", "give expires or expiresIn, not both")
	case b.Expires != nil:
		if !b.Expires.After(now) {
			return nil, badParam("expires", "in the past")
		}
		spec.expires = *b.Expires
	case b.ExpiresIn != "":
		d, err := time.ParseDuration(b.ExpiresIn)
		if err != nil || d <= 0 {
			return nil, badParam("expiresIn", "want a positive duration such as 2h or 30m")
		}
		spec.expires = now.Add(d)
	}
	if b.MaxAttempts != nil {
		if *b.MaxAttempts < 1 || *b.MaxAttempts > 100 {
			return nil, badParam("maxAttempts", "want 1 to 100")
		}
		spec.maxAtt = *b.MaxAttempts
	}
	if b.File != "" && b.Kind != "Download" && b.Kind != "ScheduleDownload" {
		return nil, badParam("file", "only Download and ScheduleDownload take a file")
	}
	if b.Kind == store.KindPlugin {
		if err := s.pluginSpec(spec, b); err != nil {
			return nil, err
		}
		return spec, nil
	}
	if b.Plugin != "" || b.Function != "" {
		return nil, badParam("plugin", "only kind %q takes plugin and function", store.KindPlugin)
	}
	args := bytes.TrimSpace(b.Args)
	if len(args) == 0 || bytes.Equal(args, []byte("null")) {
		args = []byte("{}")
	}
	switch b.Kind {
	case store.KindConnectionRequest:
		if !bytes.Equal(args, []byte("{}")) {
			return nil, badParam("args", "connectionRequest takes no arguments")
		}
		return spec, nil
	case store.KindRefresh:
		var a struct {
			Path string `json:"path"`
		}
		if err := strictUnmarshal(args, &a); err != nil {
			return nil, jsonProblem(err, "args")
		}
		if a.Path != "" {
			if err := store.CheckParamSelector(a.Path); err != nil || !strings.HasSuffix(a.Path, ".") {
				return nil, badParam("args.path", "want an object path ending in \".\", e.g. Device.WiFi.")
			}
		}
		spec.refreshArg = a.Path
		return spec, nil
	case "SetParameterValues":
		spv, err := decodeSPV(args)
		if err != nil {
			return nil, err
		}
		spec.proto = spv
	default:
		req := cwmp.New(b.Kind)
		if err := strictUnmarshal(args, req); err != nil {
			return nil, jsonProblem(err, "args")
		}
		if err := checkArgs(req); err != nil {
			return nil, err
		}
		spec.proto = req
	}
	switch req := spec.proto.(type) {
	case *cwmp.Download:
		if err := s.fileArgs(ctx, spec, b, &req.URL, &req.FileSize, &req.TargetFileName, req.FileType); err != nil {
			return nil, err
		}
	case *cwmp.ScheduleDownload:
		if err := s.fileArgs(ctx, spec, b, &req.URL, &req.FileSize, &req.TargetFileName, req.FileType); err != nil {
			return nil, err
		}
	case *cwmp.Upload:
		if req.URL == "" {
			if s.cfg.Files == nil {
				return nil, problem(http.StatusConflict, "no-file-store", "no file store: give args.URL")
			}
			if !s.cfg.Files.HasBaseURL() {
				return nil, problem(http.StatusConflict, "no-base-url", "the server has no files.base_url, so it cannot give devices an upload URL; give args.URL")
			}
			spec.uploadURL = true
		}
	}
	_, spec.hasKey = commandKeyOf(spec.proto)
	raw, err := json.Marshal(spec.proto)
	if err != nil {
		return nil, err
	}
	spec.args = raw
	return spec, nil
}

// pluginSpec checks a plugin function task: the plugin is loaded and
// exports the function, and args is a JSON array of its arguments (or
// absent). What the arguments mean is the function's business: it checks
// them when it runs, and a refusal ends the task in fault.
func (s *Server) pluginSpec(spec *taskSpec, b *createTaskBody) error {
	if b.Plugin == "" {
		return badParam("plugin", "required for kind %q: the plugin's id", store.KindPlugin)
	}
	if b.Function == "" {
		return badParam("function", "required for kind %q: the name of a function the plugin exports", store.KindPlugin)
	}
	if s.cfg.Plugins == nil {
		return badParam("plugin", "no plugin %q: this server runs no plugins", b.Plugin)
	}
	names, ok := s.cfg.Plugins.FunctionNames(b.Plugin)
	if !ok {
		loaded := strings.Join(s.cfg.Plugins.PluginIDs(), ", ")
		if loaded == "" {
			loaded = "none"
		}
		return badParam("plugin", "no plugin %q is loaded (loaded: %s)", b.Plugin, loaded)
	}
	if names == nil {
		return problem(http.StatusConflict, "plugin-unavailable", fmt.Sprintf("plugin %q has never started, so its functions are unknown; see provisor plugin check", b.Plugin))
	}
	if !contains(names, b.Function) {
		return badParam("function", "plugin %q exports no function %q (it exports: %s)", b.Plugin, b.Function, strings.Join(names, ", "))
	}
	var args []json.RawMessage
	raw := bytes.TrimSpace(b.Args)
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if raw[0] != '[' {
			return badParam("args", "for kind %q, the function's arguments as a JSON array, e.g. [\"7.16\"]", store.KindPlugin)
		}
		if err := json.Unmarshal(raw, &args); err != nil {
			return jsonProblem(err, "args")
		}
	}
	if len(args) > maxPluginArgs {
		return badParam("args", "at most %d arguments", maxPluginArgs)
	}
	spec.plugin = hook.PluginTask{Plugin: b.Plugin, Function: b.Function, Args: args}
	return nil
}

// fileArgs fills a Download's URL from a stored file, or checks the URL
// given.
func (s *Server) fileArgs(ctx context.Context, spec *taskSpec, b *createTaskBody, u *string, size *uint32, targetName *string, fileType string) error {
	if b.File == "" {
		if *u == "" {
			return badParam("args.URL", "give the URL, or a stored file in file")
		}
		return checkURL("args.URL", *u)
	}
	if *u != "" {
		return badParam("file", "give args.URL or file, not both")
	}
	if s.cfg.Files == nil {
		return problem(http.StatusConflict, "no-file-store", "no file store on this server")
	}
	m, err := s.cfg.Files.Stat(ctx, b.File)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("file", "file "+quote(b.File))
		}
		return err
	}
	ttl := s.cfg.FileURLTTL
	if !spec.expires.IsZero() {
		ttl = spec.expires.Sub(s.cfg.Now()) + time.Hour
	}
	url, err := s.cfg.Files.URL(m, ttl)
	if errors.Is(err, filestore.ErrNoBaseURL) {
		return problem(http.StatusConflict, "no-base-url", "the server has no files.base_url, so it cannot give devices a download URL")
	}
	if err != nil {
		return err
	}
	if fileType == "" {
		return badParam("args.FileType", "required")
	}
	*u = url
	if m.Size <= 1<<32-1 {
		*size = uint32(m.Size)
	}
	if *targetName == "" {
		*targetName = m.Name
	}
	return nil
}

func checkURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ftp") {
		return badParam(field, "want an http, https or ftp URL")
	}
	return nil
}

// strictUnmarshal decodes a nested document, rejecting unknown fields.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("json: unexpected data after the value")
	}
	return nil
}

// decodeSPV reads SetParameterValues arguments. A value may be a plain
// string, which takes its type from the data model (string when the path
// is not in it), or {"Type": ..., "Text": ...}.
func decodeSPV(args []byte) (*cwmp.SetParameterValues, error) {
	var a struct {
		ParameterList []struct {
			Name  string          `json:"Name"`
			Value json.RawMessage `json:"Value"`
		} `json:"ParameterList"`
		ParameterKey string `json:"ParameterKey"`
	}
	if err := strictUnmarshal(args, &a); err != nil {
		return nil, jsonProblem(err, "args")
	}
	if len(a.ParameterList) == 0 {
		return nil, badParam("args.ParameterList", "give at least one parameter")
	}
	out := &cwmp.SetParameterValues{ParameterKey: a.ParameterKey}
	for i, p := range a.ParameterList {
		field := "args.ParameterList[" + itoa(i) + "]"
		if err := store.CheckParamPath(p.Name); err != nil {
			return nil, badParam(field+".Name", "%s", trimStorePrefix(err))
		}
		var v cwmp.Value
		raw := bytes.TrimSpace(p.Value)
		switch {
		case len(raw) == 0 || raw[0] == 'n':
			return nil, badParam(field+".Value", "required")
		case raw[0] == '"':
			if err := json.Unmarshal(raw, &v.Text); err != nil {
				return nil, badParam(field+".Value", "malformed string")
			}
		default:
			var tv struct {
				Type string `json:"Type"`
				Text string `json:"Text"`
			}
			if err := strictUnmarshal(raw, &tv); err != nil {
				return nil, jsonProblem(err, field+".Value")
			}
			v.Type, v.Text = cwmp.ParseType(tv.Type), tv.Text
		}
		if v.Type == "" {
			v.Type = cwmp.TypeString
			if t, ok := datamodel.TypeOf(p.Name); ok && cwmp.Type(t).Known() {
				v.Type = cwmp.Type(t)
			}
		}
		if !v.Type.Known() {
			return nil, badParam(field+".Value.Type", "unknown type %q", v.Type)
		}
		if reason := checkValue(v); reason != "" {
			return nil, badParam(field+".Value", "%s", reason)
		}
		out.ParameterList = append(out.ParameterList, cwmp.ParameterValue{Name: p.Name, Value: v})
	}
	return out, nil
}

// checkValue checks that a value's text reads as its type.
func checkValue(v cwmp.Value) string {
	var err error
	switch v.Type {
	case cwmp.TypeBoolean:
		_, err = v.Bool()
	case cwmp.TypeInt:
		_, err = strconv.ParseInt(strings.TrimSpace(v.Text), 10, 32)
	case cwmp.TypeUnsignedInt:
		_, err = strconv.ParseUint(strings.TrimSpace(v.Text), 10, 32)
	case cwmp.TypeLong:
		_, err = v.Int64()
	case cwmp.TypeUnsignedLong:
		_, err = v.Uint64()
	case cwmp.TypeDateTime:
		_, err = v.Time()
	case cwmp.TypeBase64, cwmp.TypeHexBinary:
		_, err = v.Bytes()
	}
	if err != nil {
		return fmt.Sprintf("%q is not a valid %s", v.Text, v.Type)
	}
	return ""
}

// checkArgs checks the arguments of the other methods beyond their JSON
// shape.
func checkArgs(req cwmp.Body) error {
	names := func(field string, ns []string, min int) error {
		if len(ns) < min {
			return badParam(field, "give at least %d name(s)", min)
		}
		for i, n := range ns {
			if err := store.CheckParamSelector(n); err != nil {
				return badParam(indexed(field, i), "%s", trimStorePrefix(err))
			}
		}
		return nil
	}
	object := func(field, n string) error {
		if err := store.CheckParamSelector(n); err != nil || !strings.HasSuffix(n, ".") {
			return badParam(field, "want an object path ending in \".\"")
		}
		return nil
	}
	switch r := req.(type) {
	case *cwmp.GetParameterValues:
		return names("args.ParameterNames", r.ParameterNames, 1)
	case *cwmp.GetParameterAttributes:
		return names("args.ParameterNames", r.ParameterNames, 1)
	case *cwmp.GetParameterNames:
		if r.ParameterPath != "" {
			return names("args.ParameterPath", []string{r.ParameterPath}, 1)
		}
	case *cwmp.SetParameterAttributes:
		if len(r.ParameterList) == 0 {
			return badParam("args.ParameterList", "give at least one parameter")
		}
		for i, p := range r.ParameterList {
			if err := store.CheckParamSelector(p.Name); err != nil {
				return badParam("args.ParameterList["+itoa(i)+"].Name", "%s", trimStorePrefix(err))
			}
		}
	case *cwmp.AddObject:
		return object("args.ObjectName", r.ObjectName)
	case *cwmp.DeleteObject:
		return object("args.ObjectName", r.ObjectName)
	case *cwmp.Download:
		if r.FileType == "" {
			return badParam("args.FileType", "required, e.g. \"1 Firmware Upgrade Image\"")
		}
	case *cwmp.ScheduleDownload:
		if r.FileType == "" {
			return badParam("args.FileType", "required")
		}
	case *cwmp.Upload:
		if r.FileType == "" {
			return badParam("args.FileType", "required, e.g. \"1 Vendor Configuration File\"")
		}
		if r.URL != "" {
			return checkURL("args.URL", r.URL)
		}
	case *cwmp.ScheduleInform:
		if r.DelaySeconds == 0 {
			return badParam("args.DelaySeconds", "must be at least 1")
		}
	}
	return nil
}

func commandKeyOf(b cwmp.Body) (*string, bool) {
	switch r := b.(type) {
	case *cwmp.Download:
		return &r.CommandKey, true
	case *cwmp.Upload:
		return &r.CommandKey, true
	case *cwmp.ScheduleDownload:
		return &r.CommandKey, true
	case *cwmp.Reboot:
		return &r.CommandKey, true
	case *cwmp.ScheduleInform:
		return &r.CommandKey, true
	case *cwmp.ChangeDUState:
		return &r.CommandKey, true
	case *cwmp.CancelTransfer:
		return &r.CommandKey, true
	}
	return nil, false
}

// buildTask makes the task for one device.
func (s *Server) buildTask(spec *taskSpec, deviceID string) (store.Task, error) {
	var t store.Task
	switch spec.kind {
	case store.KindRefresh:
		t = session.RefreshTask(deviceID, spec.refreshArg)
	case store.KindConnectionRequest:
		t = store.Task{DeviceID: deviceID, Kind: store.KindConnectionRequest}
	case store.KindPlugin:
		// Each device's task has its own command key, which a transfer
		// the function starts carries.
		var err error
		if t, err = session.NewPluginTask(deviceID, spec.plugin); err != nil {
			return t, err
		}
	default:
		if !spec.hasKey {
			t = store.Task{DeviceID: deviceID, Kind: spec.kind, Args: spec.args}
			break
		}
		// Methods with a command key get their own request per device:
		// the key (and an upload URL) must be the device's own.
		req := cwmp.New(spec.kind)
		if err := json.Unmarshal(spec.args, req); err != nil {
			return t, err
		}
		if spec.uploadURL {
			up := req.(*cwmp.Upload)
			if up.CommandKey == "" {
				up.CommandKey = "provisor-" + randomHex(6)
			}
			ttl := s.cfg.FileURLTTL
			if !spec.expires.IsZero() {
				ttl = spec.expires.Sub(s.cfg.Now()) + time.Hour
			}
			u, err := s.cfg.Files.UploadURLFor(filestore.UploadGrant{DeviceID: deviceID, FileType: up.FileType, CommandKey: up.CommandKey}, ttl)
			if err != nil {
				return t, err
			}
			up.URL = u
		}
		var err error
		if t, err = session.NewTask(deviceID, req); err != nil {
			return t, err
		}
	}
	t.Expires, t.MaxAttempts = spec.expires, spec.maxAtt
	return t, nil
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	p := queryParams(r, "device", "state", "cursor", "limit")
	f := store.TaskFilter{DeviceID: p.str("device"), State: store.TaskState(p.str("state")), After: p.int64("cursor"), Limit: p.intIn("limit", 100, 1, 1000)}
	if err := p.done(); err != nil {
		return err
	}
	if f.State != "" && !f.State.Valid() {
		return badParam("state", "want one of queued, running, waiting-transfer, done, fault, expired, cancelled")
	}
	page, next, err := s.st.Tasks(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Tasks []apiTask `json:"tasks"`
		Next  string    `json:"next,omitempty"`
	}{Tasks: make([]apiTask, len(page))}
	for i, t := range page {
		out.Tasks[i] = toAPITask(t)
	}
	if next > 0 {
		out.Next = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func pathID(r *http.Request) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || n <= 0 {
		return 0, badParam("id", "want a positive integer")
	}
	return n, nil
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := queryParams(r).done(); err != nil {
		return err
	}
	about(r, "id")
	t, err := s.st.Task(r.Context(), id)
	if err != nil {
		return err
	}
	out := toAPITask(t)
	// The connection request made for the task, if any: the device's
	// newest one since the task was created.
	if crs, err := s.st.ConnReqs(r.Context(), t.DeviceID, 1); err == nil && len(crs) > 0 && !crs[0].Time.Before(t.Created.Add(-time.Second)) {
		c := toAPIConnReq(crs[0])
		out.ConnectionRequest = &c
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := queryParams(r).done(); err != nil {
		return err
	}
	target(r, "task "+strconv.FormatInt(id, 10))
	about(r, "id")
	t, err := s.st.CancelTask(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPITask(t))
	return nil
}

// requeue moves a failed task back to the queue, and wakes the device
// when run=now.
func (s *Server) requeue(r *http.Request, id int64, run string) (store.Task, error) {
	if run != "" && run != RunNow && run != RunNextInform {
		return store.Task{}, badParam("run", "want %q or %q", RunNow, RunNextInform)
	}
	if run == RunNow && s.cfg.ConnReq == nil {
		return store.Task{}, problem(http.StatusConflict, "no-connection-requests", "connection requests are not enabled on this server")
	}
	target(r, "task "+strconv.FormatInt(id, 10))
	t, err := s.st.UpdateTask(r.Context(), store.TaskUpdate{ID: id, State: store.StateQueued, From: store.StateFault})
	if errors.Is(err, store.ErrConflict) {
		return t, problem(http.StatusConflict, "conflict", fmt.Sprintf("task %d is %s; only a task in fault can be retried", id, t.State))
	}
	if err != nil {
		return t, err
	}
	if run == RunNow {
		if row, err := s.device(r.Context(), t.DeviceID, nil); err == nil {
			s.wake(row.Device)
		}
	}
	return t, nil
}

func (s *Server) retryTask(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p := queryParams(r, "run")
	run := p.str("run")
	if err := p.done(); err != nil {
		return err
	}
	about(r, "id")
	t, err := s.requeue(r, id, run)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPITask(t))
	return nil
}
