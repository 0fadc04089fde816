package script

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/datamodel"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
)

// maxLogLines bounds what one session's scripts may log, so that a loop
// cannot flood the server's log.
const maxLogLines = 1000

// maxLogText bounds one logged message or field.
const maxLogText = 8 << 10

// binding ties a runtime to the session it serves while a handler runs.
type binding struct {
	ctx      context.Context
	s        hook.Session
	st       *sessionState
	reg      *Registration // the handler running now
	deviceOK bool          // device calls allowed (not in session.end)
	inFault  bool          // running a fault handler

	handlerUsed time.Duration
	stretch     time.Time
	running     bool

	sObj    *goja.Object
	stopCtx func() bool
	// inform and events are built on first use and kept for the session.
	inform, events goja.Value
}

// bind prepares the runtime for a session: Date and Math.random become
// the session's, and a fresh session object is made.
func (v *vm) bind(ctx context.Context, s hook.Session, st *sessionState, deviceOK bool) *binding {
	d := s.Device()
	v.now = s.Start()
	// Seeding costs an HMAC; most sessions never call Math.random.
	v.rngFor, v.rngSeeded = d.ID, false
	bd := &binding{ctx: ctx, s: s, st: st, deviceOK: deviceOK}
	str := func(x string) goja.Value { return v.rt.ToValue(x) }
	so, err := v.bindSession(goja.Undefined(), v.sessionProto, v.deviceProto, v.storeObj, v.logObj, str(s.ID()),
		str(d.ID), str(d.OUI), str(d.ProductClass), str(d.SerialNumber), str(d.Manufacturer), str(d.Root), v.rt.ToValue(d.New), str(d.Version.String()))
	if err != nil {
		panic(err) // the prelude's own code: cannot fail
	}
	bd.sObj = so.(*goja.Object)
	v.cur = bd
	bd.stopCtx = context.AfterFunc(ctx, func() {
		v.wd.interrupt(fmt.Errorf("%w: %v", hook.ErrSessionEnded, context.Cause(ctx)))
	})
	return bd
}

func (v *vm) unbind(bd *binding) {
	bd.stopCtx()
	v.cur = nil
	v.now = v.b.Loaded
	v.rngFor, v.rngSeeded = "", false
}

// resume starts a stretch of JavaScript execution, armed with what is left
// of the handler's and the session's budgets.
func (v *vm) resume(bd *binding) error {
	if err := bd.ctx.Err(); err != nil {
		return fmt.Errorf("%w: %v", hook.ErrSessionEnded, context.Cause(bd.ctx))
	}
	o := v.e.opts
	rem := o.HandlerBudget - bd.handlerUsed
	reason := &TimeoutError{Budget: "handler", Limit: o.HandlerBudget.String()}
	if s := o.SessionBudget - bd.st.used; s < rem {
		rem = s
		reason = &TimeoutError{Budget: "session", Limit: o.SessionBudget.String()}
	}
	if rem <= 0 {
		return reason
	}
	bd.stretch = time.Now()
	bd.running = true
	v.wd.arm(rem, reason)
	return nil
}

// pause ends a stretch and charges it to the budgets.
func (v *vm) pause(bd *binding) {
	if !bd.running {
		return
	}
	v.wd.disarm()
	d := time.Since(bd.stretch)
	bd.handlerUsed += d
	bd.st.used += d
	bd.running = false
}

// blocking runs f, which waits for the device or the store, outside the
// budget. If the budget or the session ran out meanwhile, the runtime is
// interrupted as soon as it is back in JavaScript.
func (v *vm) blocking(bd *binding, f func()) {
	v.pause(bd)
	f()
	if err := v.resume(bd); err != nil {
		v.rt.Interrupt(err)
	}
}

// invoke runs one handler. The error, if any, is a script error already
// located, or wraps hook.ErrSessionEnded.
func (v *vm) invoke(bd *binding, r *Registration, arg goja.Value) (err error) {
	fn := v.handlers[r.index]
	bd.reg = r
	bd.handlerUsed = 0
	bd.inFault = r.kind == kindFault
	_ = bd.sObj.Set("event", r.Event)
	v.rt.ClearInterrupt()
	defer func() {
		v.pause(bd)
		bd.reg = nil
		if p := recover(); p != nil {
			v.broken = true
			err = &FileError{File: r.File, Line: r.Line, Column: r.Column, Message: fmt.Sprintf("internal error in a script API: %v", p), Stack: string(debug.Stack())}
		}
	}()
	if err := v.resume(bd); err != nil {
		return v.classify(err, r)
	}
	if arg == nil {
		arg = goja.Undefined()
	}
	res, err := fn(goja.Undefined(), bd.sObj, arg)
	v.pause(bd)
	if err != nil {
		return v.classify(err, r)
	}
	if o, ok := res.(*goja.Object); ok {
		if p, ok := o.Export().(*goja.Promise); ok {
			switch p.State() {
			case goja.PromiseStateRejected:
				return rejectedError(r, p.Result())
			case goja.PromiseStatePending:
				bd.s.Logger().Warn("handler returned a pending promise; device calls are synchronous, so handlers need not be async", "script", r.Where(), "event", r.Event)
			}
		}
	}
	return nil
}

// classify turns what a handler call returned into the error the engine
// reports. Interrupts and stack overflows leave the runtime unfit for reuse.
func (v *vm) classify(err error, r *Registration) error {
	var ie *goja.InterruptedError
	var te *TimeoutError
	switch {
	case errors.As(err, &ie):
		v.broken = true
		if cause, ok := ie.Value().(error); ok && errors.Is(cause, hook.ErrSessionEnded) {
			return cause
		}
	case errors.As(err, &te):
		// The budget was gone before the handler started.
		return &FileError{File: r.File, Line: r.Line, Column: r.Column, Message: te.Error(), Cause: te}
	}
	if errors.Is(err, hook.ErrSessionEnded) {
		return err
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		v.broken = true
	}
	fe := v.fileError(err, r.File)
	if fe.Line == 0 {
		fe.Line, fe.Column = r.Line, r.Column
	}
	return fe
}

// rejectedError reports an async handler whose promise was rejected.
func rejectedError(r *Registration, reason goja.Value) error {
	fe := &FileError{File: r.File, Line: r.Line, Column: r.Column, Message: "handler's promise rejected: " + exceptionMessage(reason)}
	if o, ok := reason.(*goja.Object); ok {
		if s := o.Get("stack"); s != nil && !goja.IsUndefined(s) {
			locateFromStack(fe, s.String())
		}
	}
	return fe
}

var stackLine = regexp.MustCompile(`^\s*at (?:.* \()?([^\s()]+):(\d+):(\d+)(?:\(\d+\))?\)?$`)

// locateFromStack reads an Error's stack property, which is all there is
// once an error has passed through a promise: the frames go to fe.Stack in
// the engine's format and the first script frame becomes fe's position.
func locateFromStack(fe *FileError, stack string) {
	var frames []string
	for _, l := range strings.Split(stack, "\n") {
		m := stackLine.FindStringSubmatch(l)
		if m == nil || m[1] == preludeName {
			continue
		}
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		col = fixColumn(line, col)
		if len(frames) == 0 {
			fe.File, fe.Line, fe.Column = m[1], line, col
		}
		frames = append(frames, "at "+m[1]+":"+strconv.Itoa(line)+":"+strconv.Itoa(col))
	}
	fe.Stack = strings.Join(frames, "\n")
}

// ---- API objects, made once per runtime ----

func (v *vm) fn(f func(call goja.FunctionCall) goja.Value) goja.Value { return v.rt.ToValue(f) }

func (v *vm) method(obj *goja.Object, name string, f func(call goja.FunctionCall) goja.Value) {
	_ = obj.DefineDataProperty(name, v.fn(f), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
}

func (v *vm) getter(obj *goja.Object, name string, f func(call goja.FunctionCall) goja.Value) {
	_ = obj.DefineAccessorProperty(name, v.fn(f), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
}

func (v *vm) installAPI() {
	rt := v.rt

	// provisor/log and s.log
	v.logObj = rt.NewObject()
	for name, lvl := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		v.method(v.logObj, name, v.logFn(lvl))
	}

	console := rt.NewObject()
	for name, lvl := range map[string]slog.Level{"log": slog.LevelInfo, "info": slog.LevelInfo, "debug": slog.LevelDebug, "warn": slog.LevelWarn, "error": slog.LevelError} {
		v.method(console, name, v.consoleFn(lvl))
	}
	_ = rt.Set("console", console)

	// provisor
	p := rt.NewObject()
	v.method(p, "on", v.on)
	ver := rt.NewObject()
	v.method(ver, "compare", v.versionFn("compare", func(c int) any { return c }))
	v.method(ver, "gt", v.versionFn("gt", func(c int) any { return c > 0 }))
	v.method(ver, "gte", v.versionFn("gte", func(c int) any { return c >= 0 }))
	v.method(ver, "lt", v.versionFn("lt", func(c int) any { return c < 0 }))
	v.method(ver, "lte", v.versionFn("lte", func(c int) any { return c <= 0 }))
	v.method(ver, "eq", v.versionFn("eq", func(c int) any { return c == 0 }))
	_ = p.Set("version", ver)
	_ = p.Set("CwmpFault", v.faultCtor)
	_ = p.Set("log", v.logObj)
	v.builtin["provisor"] = p
	v.builtin["provisor/log"] = v.logObj

	// s.store
	v.storeObj = rt.NewObject()
	v.method(v.storeObj, "get", v.storeGet)
	v.method(v.storeObj, "set", v.storeSet)
	v.method(v.storeObj, "delete", v.storeDelete)

	// s.device
	d := rt.NewObject()
	v.deviceProto = d
	v.method(d, "get", v.devGet)
	v.method(d, "refresh", v.devRefresh)
	v.method(d, "getValues", v.devGetValues)
	v.method(d, "getNames", v.devGetNames)
	v.method(d, "set", v.devSet)
	v.method(d, "addObject", v.devAddObject)
	v.method(d, "deleteObject", v.devDeleteObject)
	v.method(d, "getAttributes", v.devGetAttributes)
	v.method(d, "setAttributes", v.devSetAttributes)
	v.method(d, "download", v.devDownload)
	v.method(d, "upload", v.devUpload)
	v.method(d, "reboot", v.devReboot)
	v.method(d, "factoryReset", v.devFactoryReset)
	v.method(d, "scheduleInform", v.devScheduleInform)
	v.method(d, "tag", v.devTag)
	v.method(d, "untag", v.devUntag)
	v.method(d, "hasTag", v.devHasTag)
	v.getter(d, "tags", v.devTags)

	// s
	v.sessionProto = rt.NewObject()
	v.getter(v.sessionProto, "events", v.sessEvents)
	v.getter(v.sessionProto, "inform", v.sessInform)
	v.method(v.sessionProto, "commandKey", v.sessCommandKey)

	// The API objects outlive the session in a pooled runtime: a script
	// that replaced s.device.get would change it for the next device.
	freeze, _ := goja.AssertFunction(rt.Get("Object").ToObject(rt).Get("freeze"))
	for _, o := range []*goja.Object{v.logObj, console, ver, p, v.storeObj, d, v.sessionProto} {
		if _, err := freeze(goja.Undefined(), o); err != nil {
			panic(err)
		}
	}
}

// binding returns the session of the handler running now, or throws.
func (v *vm) binding(api string) *binding {
	if v.cur == nil {
		v.throwError("%s can only be used inside a handler, not while a script loads", api)
	}
	return v.cur
}

// deviceBinding is binding for calls that talk to the device.
func (v *vm) deviceBinding(api string) *binding {
	bd := v.binding(api)
	if !bd.deviceOK {
		v.throwError("%s: the device cannot be called from a %q handler: the session is over", api, bd.reg.Event)
	}
	return bd
}

func (v *vm) argString(call goja.FunctionCall, i int, api, what string) string {
	a := call.Argument(i)
	s, ok := a.Export().(string)
	if !ok {
		v.throwType("%s: %s must be a string, not %s", api, what, typeName(a))
	}
	return s
}

func (v *vm) argPath(call goja.FunctionCall, i int, api string) string {
	p := v.argString(call, i, api, "the path")
	if len(p) > 1024 {
		v.throwRange("%s: path of %d bytes", api, len(p))
	}
	return p
}

// argPaths accepts a path or an array of paths.
func (v *vm) argPaths(call goja.FunctionCall, i int, api string) []string {
	a := call.Argument(i)
	switch x := a.Export().(type) {
	case string:
		return []string{x}
	case []any:
		if len(x) > v.e.opts.MaxValues {
			v.throwRange("%s: %d paths; at most %d at once", api, len(x), v.e.opts.MaxValues)
		}
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				v.throwType("%s: paths must be strings", api)
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			v.throwType("%s: no paths given", api)
		}
		return out
	}
	v.throwType("%s: want a path or an array of paths, not %s", api, typeName(a))
	return nil
}

// argObject returns an optional plain-object argument (nil if absent).
func (v *vm) argObject(call goja.FunctionCall, i int, api, what string, required bool) *goja.Object {
	a := call.Argument(i)
	if goja.IsUndefined(a) || goja.IsNull(a) {
		if required {
			v.throwType("%s: %s is missing", api, what)
		}
		return nil
	}
	o, ok := a.(*goja.Object)
	if !ok || o.ClassName() != "Object" {
		v.throwType("%s: %s must be an object, not %s", api, what, typeName(a))
	}
	return o
}

// options reads a plain object's fields, refusing unknown ones so that a
// typo does not silently send a default.
type options struct {
	v   *vm
	api string
	o   *goja.Object
}

func (v *vm) options(o *goja.Object, api string, known ...string) options {
	if o != nil {
		for _, k := range o.Keys() {
			if !slices.Contains(known, k) {
				v.throwType("%s: unknown option %q; the options are %s", api, k, strings.Join(known, ", "))
			}
		}
	}
	return options{v: v, api: api, o: o}
}

func (op options) str(name string, required bool) string {
	if op.o == nil {
		if required {
			op.v.throwType("%s: %s is required", op.api, name)
		}
		return ""
	}
	val := op.o.Get(name)
	if val == nil || goja.IsUndefined(val) || goja.IsNull(val) {
		if required {
			op.v.throwType("%s: %s is required", op.api, name)
		}
		return ""
	}
	s, ok := val.Export().(string)
	if !ok {
		op.v.throwType("%s: %s must be a string, not %s", op.api, name, typeName(val))
	}
	return s
}

func (op options) uint32(name string) uint32 {
	if op.o == nil {
		return 0
	}
	val := op.o.Get(name)
	if val == nil || goja.IsUndefined(val) || goja.IsNull(val) {
		return 0
	}
	return op.v.toUint32(val, op.api+": "+name)
}

func (v *vm) toUint32(val goja.Value, what string) uint32 {
	var f float64
	switch x := val.Export().(type) {
	case int64:
		f = float64(x)
	case float64:
		f = x
	default:
		v.throwType("%s must be a number, not %s", what, typeName(val))
	}
	if f != math.Trunc(f) || f < 0 || f > math.MaxUint32 {
		v.throwRange("%s must be a whole number from 0 to %d, not %v", what, uint32(math.MaxUint32), f)
	}
	return uint32(f)
}

// ---- device calls ----

// call sends one RPC, outside the time budget, and turns a CPE fault into a
// CwmpFault exception.
func (v *vm) call(bd *binding, api string, req cwmp.Body) cwmp.Body {
	var resp cwmp.Body
	var err error
	v.blocking(bd, func() { resp, err = bd.s.Call(bd.ctx, req) })
	if err != nil {
		v.callError(bd, api, req, err)
	}
	return resp
}

func callAs[T cwmp.Body](v *vm, bd *binding, api string, req cwmp.Body) T {
	resp := v.call(bd, api, req)
	t, ok := resp.(T)
	if !ok {
		name := "an empty message"
		if resp != nil {
			name = resp.Method()
		}
		v.throwError("%s: the device answered %s with %s", api, req.Method(), name)
	}
	return t
}

func (v *vm) callError(bd *binding, api string, req cwmp.Body, err error) {
	var f *cwmp.Fault
	if errors.As(err, &f) {
		bd.st.noteFault(req.Method(), f, bd.inFault)
		panic(v.newFault(f, req.Method()))
	}
	if errors.Is(err, hook.ErrSessionEnded) {
		// No script may go on talking to a device that is gone: the
		// interrupt cannot be caught.
		v.rt.Interrupt(err)
	}
	v.throwError("%s: %v", api, err)
}

func (v *vm) newFault(f *cwmp.Fault, method string) *goja.Object {
	params := make([]any, 0, len(f.SetParameterValuesFaults))
	for _, p := range f.SetParameterValuesFaults {
		msg := p.FaultString
		if msg == "" {
			msg = p.FaultCode.Meaning()
		}
		params = append(params, map[string]any{"name": p.ParameterName, "code": int64(p.FaultCode), "message": msg})
	}
	msg := f.String
	if msg == "" {
		msg = f.Code.Meaning()
	}
	arr := v.rt.NewArray()
	for i, p := range params {
		o := v.rt.NewObject()
		for k, val := range p.(map[string]any) {
			_ = o.Set(k, val)
		}
		_ = arr.Set(strconv.Itoa(i), o)
	}
	obj, err := v.rt.New(v.faultCtor, v.rt.ToValue(int64(f.Code)), v.rt.ToValue(msg), arr, v.rt.ToValue(method))
	if err != nil {
		panic(err)
	}
	return obj
}

func (v *vm) commandKey(bd *binding, given string) string {
	if given != "" {
		return given
	}
	bd.st.seq++
	id := bd.s.ID()
	if len(id) > 8 {
		id = id[:8]
	}
	return "script-" + id + "-" + strconv.Itoa(bd.st.seq)
}

func (v *vm) devGet(call goja.FunctionCall) goja.Value {
	const api = "s.device.get"
	bd := v.binding(api)
	name := v.argPath(call, 0, api)
	var p store.Param
	var ok bool
	var err error
	v.blocking(bd, func() { p, ok, err = bd.s.Value(bd.ctx, name) })
	if err != nil {
		v.throwError("%s: %v", api, err)
	}
	if !ok || p.Object {
		return goja.Undefined()
	}
	return v.toJS(name, typeFor(name, p.Type), p.Value)
}

func (v *vm) devRefresh(call goja.FunctionCall) goja.Value {
	const api = "s.device.refresh"
	bd := v.deviceBinding(api)
	p := v.argPath(call, 0, api)
	if p != "" && !strings.HasSuffix(p, ".") {
		r := callAs[*cwmp.GetParameterValuesResponse](v, bd, api, &cwmp.GetParameterValues{ParameterNames: []string{p}})
		return v.rt.ToValue(len(r.ParameterList))
	}
	if p == "" {
		p = bd.s.Device().Root
	}
	var n int
	var err error
	v.blocking(bd, func() { n, err = session.Refresh(bd.ctx, bd.s, p) })
	if err != nil {
		v.callError(bd, api, &cwmp.GetParameterValues{ParameterNames: []string{p}}, err)
	}
	return v.rt.ToValue(n)
}

func (v *vm) devGetValues(call goja.FunctionCall) goja.Value {
	const api = "s.device.getValues"
	bd := v.deviceBinding(api)
	names := v.argPaths(call, 0, api)
	r := callAs[*cwmp.GetParameterValuesResponse](v, bd, api, &cwmp.GetParameterValues{ParameterNames: names})
	if len(r.ParameterList) > v.e.opts.MaxValues {
		v.throwRange("%s: the device answered %d values; scripts accept at most %d at once", api, len(r.ParameterList), v.e.opts.MaxValues)
	}
	out := v.rt.NewObject()
	for _, p := range r.ParameterList {
		_ = out.Set(p.Name, v.toJS(p.Name, typeFor(p.Name, string(p.Value.Type)), p.Value.Text))
	}
	return out
}

func (v *vm) devGetNames(call goja.FunctionCall) goja.Value {
	const api = "s.device.getNames"
	bd := v.deviceBinding(api)
	p := v.argPath(call, 0, api)
	next := call.Argument(1).ToBoolean()
	r := callAs[*cwmp.GetParameterNamesResponse](v, bd, api, &cwmp.GetParameterNames{ParameterPath: p, NextLevel: next})
	if len(r.ParameterList) > v.e.opts.MaxValues {
		v.throwRange("%s: the device answered %d names; scripts accept at most %d at once", api, len(r.ParameterList), v.e.opts.MaxValues)
	}
	arr := v.rt.NewArray()
	for i, info := range r.ParameterList {
		if len(info.Name) > v.e.opts.MaxStringLen {
			v.throwRange("%s: a name of %d bytes", api, len(info.Name))
		}
		o := v.rt.NewObject()
		_ = o.Set("name", info.Name)
		_ = o.Set("writable", info.Writable)
		_ = arr.Set(strconv.Itoa(i), o)
	}
	return arr
}

func (v *vm) devSet(call goja.FunctionCall) goja.Value {
	const api = "s.device.set"
	bd := v.deviceBinding(api)
	vals := v.argObject(call, 0, api, "the values", true)
	op := v.options(v.argObject(call, 1, api, "options", false), api, "parameterKey")
	keys := vals.Keys()
	if len(keys) == 0 {
		v.throwType("%s: nothing to set", api)
	}
	if len(keys) > v.e.opts.MaxValues {
		v.throwRange("%s: %d values; at most %d at once", api, len(keys), v.e.opts.MaxValues)
	}
	req := &cwmp.SetParameterValues{ParameterKey: op.str("parameterKey", false)}
	for _, name := range keys {
		if name == "" || strings.HasSuffix(name, ".") {
			v.throwType("%s: %q is no parameter name", api, name)
		}
		// The stored type matters only for parameters the data model
		// does not know; asking for it may read the device's whole tree.
		var known string
		if _, std := datamodel.TypeOf(name); !std {
			v.blocking(bd, func() {
				if p, ok, err := bd.s.Value(bd.ctx, name); err == nil && ok && !p.Object {
					known = p.Type
				}
			})
		}
		cv, err := v.fromJS(name, vals.Get(name), known)
		if err != nil {
			v.throwType("%s: %v", api, err)
		}
		req.ParameterList = append(req.ParameterList, cwmp.ParameterValue{Name: name, Value: cv})
	}
	r := callAs[*cwmp.SetParameterValuesResponse](v, bd, api, req)
	return v.rt.ToValue(r.Status)
}

func objectPath(p string) string {
	if p != "" && !strings.HasSuffix(p, ".") {
		return p + "."
	}
	return p
}

func (v *vm) devAddObject(call goja.FunctionCall) goja.Value {
	const api = "s.device.addObject"
	bd := v.deviceBinding(api)
	p := objectPath(v.argPath(call, 0, api))
	op := v.options(v.argObject(call, 1, api, "options", false), api, "parameterKey")
	r := callAs[*cwmp.AddObjectResponse](v, bd, api, &cwmp.AddObject{ObjectName: p, ParameterKey: op.str("parameterKey", false)})
	return v.rt.ToValue(int64(r.InstanceNumber))
}

func (v *vm) devDeleteObject(call goja.FunctionCall) goja.Value {
	const api = "s.device.deleteObject"
	bd := v.deviceBinding(api)
	p := objectPath(v.argPath(call, 0, api))
	op := v.options(v.argObject(call, 1, api, "options", false), api, "parameterKey")
	r := callAs[*cwmp.DeleteObjectResponse](v, bd, api, &cwmp.DeleteObject{ObjectName: p, ParameterKey: op.str("parameterKey", false)})
	return v.rt.ToValue(r.Status)
}

func (v *vm) devGetAttributes(call goja.FunctionCall) goja.Value {
	const api = "s.device.getAttributes"
	bd := v.deviceBinding(api)
	names := v.argPaths(call, 0, api)
	r := callAs[*cwmp.GetParameterAttributesResponse](v, bd, api, &cwmp.GetParameterAttributes{ParameterNames: names})
	if len(r.ParameterList) > v.e.opts.MaxValues {
		v.throwRange("%s: the device answered %d attributes; scripts accept at most %d at once", api, len(r.ParameterList), v.e.opts.MaxValues)
	}
	out := v.rt.NewObject()
	for _, a := range r.ParameterList {
		o := v.rt.NewObject()
		_ = o.Set("notification", a.Notification)
		acl := make([]any, len(a.AccessList))
		for i, s := range a.AccessList {
			acl[i] = s
		}
		_ = o.Set("accessList", v.rt.NewArray(acl...))
		_ = out.Set(a.Name, o)
	}
	return out
}

func (v *vm) devSetAttributes(call goja.FunctionCall) goja.Value {
	const api = "s.device.setAttributes"
	bd := v.deviceBinding(api)
	attrs := v.argObject(call, 0, api, "the attributes", true)
	req := &cwmp.SetParameterAttributes{}
	for _, name := range attrs.Keys() {
		o, ok := attrs.Get(name).(*goja.Object)
		if !ok {
			v.throwType("%s: %s: want {notification, accessList}", api, name)
		}
		v.options(o, api+": "+name, "notification", "accessList")
		st := cwmp.SetParameterAttributesStruct{Name: name}
		if n := o.Get("notification"); n != nil && !goja.IsUndefined(n) {
			st.NotificationChange = true
			st.Notification = int(v.toUint32(n, api+": "+name+".notification"))
			if st.Notification > 6 {
				v.throwRange("%s: %s.notification must be 0 (off), 1 (passive) or 2 (active), not %d", api, name, st.Notification)
			}
		}
		if acl := o.Get("accessList"); acl != nil && !goja.IsUndefined(acl) {
			list, ok := acl.Export().([]any)
			if !ok {
				v.throwType("%s: %s.accessList must be an array of strings", api, name)
			}
			st.AccessListChange = true
			st.AccessList = []string{}
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					v.throwType("%s: %s.accessList must be an array of strings", api, name)
				}
				st.AccessList = append(st.AccessList, s)
			}
		}
		req.ParameterList = append(req.ParameterList, st)
	}
	if len(req.ParameterList) == 0 {
		v.throwType("%s: nothing to set", api)
	}
	callAs[*cwmp.SetParameterAttributesResponse](v, bd, api, req)
	return goja.Undefined()
}

func (v *vm) transferResult(status int, key string, start, end time.Time) goja.Value {
	o := v.rt.NewObject()
	_ = o.Set("status", status)
	_ = o.Set("commandKey", key)
	if !start.IsZero() && !start.Equal(cwmp.UnknownTime) {
		_ = o.Set("startTime", cwmp.FormatDateTime(start, false))
	}
	if !end.IsZero() && !end.Equal(cwmp.UnknownTime) {
		_ = o.Set("completeTime", cwmp.FormatDateTime(end, false))
	}
	return o
}

func (v *vm) devDownload(call goja.FunctionCall) goja.Value {
	const api = "s.device.download"
	bd := v.deviceBinding(api)
	op := v.options(v.argObject(call, 0, api, "the download", true), api,
		"fileType", "file", "url", "username", "password", "fileSize", "targetFileName", "delaySeconds", "successURL", "failureURL", "commandKey")
	file, u := op.str("file", false), op.str("url", false)
	switch {
	case file != "" && u != "":
		v.throwType("%s: give url or file, not both", api)
	case file == "" && u == "":
		v.throwType("%s: url or file is required", api)
	}
	req := &cwmp.Download{
		FileType: op.str("fileType", file == ""), URL: u,
		Username: op.str("username", false), Password: op.str("password", false),
		FileSize: op.uint32("fileSize"), TargetFileName: op.str("targetFileName", false),
		DelaySeconds: op.uint32("delaySeconds"), SuccessURL: op.str("successURL", false), FailureURL: op.str("failureURL", false),
	}
	var stored goja.Value
	if file != "" {
		// As a Download task of the API with a file: the stored file's
		// type, size and name fill what the script leaves out.
		m, fu := v.storedFile(bd, api, file, req.DelaySeconds)
		req.URL = fu
		if req.FileType == "" {
			req.FileType = m.Type
		}
		if req.FileSize == 0 && m.Size <= math.MaxUint32 {
			req.FileSize = uint32(m.Size)
		}
		if req.TargetFileName == "" {
			req.TargetFileName = m.Name
		}
		stored = v.fileInfo(m)
	}
	req.CommandKey = v.commandKey(bd, op.str("commandKey", false))
	r := callAs[*cwmp.DownloadResponse](v, bd, api, req)
	res := v.transferResult(r.Status, req.CommandKey, r.StartTime, r.CompleteTime)
	if stored != nil {
		_ = res.ToObject(v.rt).Set("file", stored)
	}
	return res
}

func (v *vm) devUpload(call goja.FunctionCall) goja.Value {
	const api = "s.device.upload"
	bd := v.deviceBinding(api)
	op := v.options(v.argObject(call, 0, api, "the upload", true), api,
		"fileType", "url", "username", "password", "delaySeconds", "commandKey")
	req := &cwmp.Upload{
		FileType: op.str("fileType", true), URL: op.str("url", false),
		Username: op.str("username", false), Password: op.str("password", false),
		DelaySeconds: op.uint32("delaySeconds"),
	}
	req.CommandKey = v.commandKey(bd, op.str("commandKey", false))
	if req.URL == "" {
		// Into the file store, with the command key on the file, as an
		// Upload task of the API without a URL.
		req.URL = v.uploadURL(bd, api, req.FileType, req.CommandKey, req.DelaySeconds)
	}
	r := callAs[*cwmp.UploadResponse](v, bd, api, req)
	return v.transferResult(r.Status, req.CommandKey, r.StartTime, r.CompleteTime)
}

func (v *vm) optionalKey(call goja.FunctionCall, i int, api string) string {
	a := call.Argument(i)
	if goja.IsUndefined(a) || goja.IsNull(a) {
		return ""
	}
	return v.argString(call, i, api, "the command key")
}

func (v *vm) devReboot(call goja.FunctionCall) goja.Value {
	const api = "s.device.reboot"
	bd := v.deviceBinding(api)
	key := v.commandKey(bd, v.optionalKey(call, 0, api))
	callAs[*cwmp.RebootResponse](v, bd, api, &cwmp.Reboot{CommandKey: key})
	return v.rt.ToValue(key)
}

func (v *vm) devFactoryReset(call goja.FunctionCall) goja.Value {
	const api = "s.device.factoryReset"
	bd := v.deviceBinding(api)
	callAs[*cwmp.FactoryResetResponse](v, bd, api, &cwmp.FactoryReset{})
	return goja.Undefined()
}

func (v *vm) devScheduleInform(call goja.FunctionCall) goja.Value {
	const api = "s.device.scheduleInform"
	bd := v.deviceBinding(api)
	secs := v.toUint32(call.Argument(0), api+": seconds")
	if secs == 0 {
		v.throwRange("%s: seconds must be at least 1", api)
	}
	key := v.commandKey(bd, v.optionalKey(call, 1, api))
	callAs[*cwmp.ScheduleInformResponse](v, bd, api, &cwmp.ScheduleInform{DelaySeconds: secs, CommandKey: key})
	return v.rt.ToValue(key)
}

// ---- tags and per-device data ----

func (v *vm) needStore(api string) store.Store {
	if v.e.opts.Store == nil {
		v.throwError("%s: no store is configured", api)
	}
	return v.e.opts.Store
}

func (v *vm) withDevice(bd *binding, st store.Store, f func() error) error {
	return ensureDevice(bd.ctx, st, bd.s, f)
}

// ensureDevice runs a store write that needs the device's row, creating a
// minimal row first for a device in its very first session: the session
// writes the full row only when it ends.
func ensureDevice(ctx context.Context, st store.Store, s hook.Session, f func() error) error {
	err := f()
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	d := s.Device()
	if err := st.UpsertDevice(ctx, store.Device{ID: d.ID, OUI: d.OUI, ProductClass: d.ProductClass, SerialNumber: d.SerialNumber, Manufacturer: d.Manufacturer}); err != nil {
		return err
	}
	return f()
}

func (v *vm) tagArg(call goja.FunctionCall, api string) string {
	t := v.argString(call, 0, api, "the tag")
	if err := store.CheckTag(t); err != nil {
		v.throwType("%s: %v", api, err)
	}
	return t
}

func (v *vm) devTag(call goja.FunctionCall) goja.Value {
	const api = "s.device.tag"
	bd := v.binding(api)
	st := v.needStore(api)
	t := v.tagArg(call, api)
	var err error
	v.blocking(bd, func() {
		err = v.withDevice(bd, st, func() error { return st.AddTags(bd.ctx, bd.s.Device().ID, t) })
	})
	if err != nil {
		v.throwError("%s: %v", api, err)
	}
	bd.st.tagsChanged(t, true)
	return goja.Undefined()
}

func (v *vm) devUntag(call goja.FunctionCall) goja.Value {
	const api = "s.device.untag"
	bd := v.binding(api)
	st := v.needStore(api)
	t := v.tagArg(call, api)
	var err error
	v.blocking(bd, func() { err = st.RemoveTags(bd.ctx, bd.s.Device().ID, t) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		v.throwError("%s: %v", api, err)
	}
	bd.st.tagsChanged(t, false)
	return goja.Undefined()
}

func (v *vm) currentTags(bd *binding) []string {
	var tags []string
	v.blocking(bd, func() { tags = bd.st.deviceTags(bd.ctx, v.e, bd.s.Device().ID) })
	return tags
}

func (v *vm) devHasTag(call goja.FunctionCall) goja.Value {
	bd := v.binding("s.device.hasTag")
	t := v.argString(call, 0, "s.device.hasTag", "the tag")
	return v.rt.ToValue(slices.Contains(v.currentTags(bd), t))
}

func (v *vm) devTags(goja.FunctionCall) goja.Value {
	bd := v.binding("s.device.tags")
	tags := v.currentTags(bd)
	items := make([]any, len(tags))
	for i, t := range tags {
		items[i] = t
	}
	return v.rt.NewArray(items...)
}

func (v *vm) dataKey(call goja.FunctionCall, api string) string {
	k := v.argString(call, 0, api, "the key")
	if k == "" || len(k) > 256 {
		v.throwType("%s: keys are 1 to 256 bytes long", api)
	}
	return k
}

func (v *vm) storeGet(call goja.FunctionCall) goja.Value {
	const api = "s.store.get"
	bd := v.binding(api)
	st := v.needStore(api)
	key := v.dataKey(call, api)
	var data []byte
	var err error
	v.blocking(bd, func() { data, err = st.Data(bd.ctx, bd.s.Device().ID, key) })
	if errors.Is(err, store.ErrNotFound) {
		return goja.Undefined()
	}
	if err != nil {
		v.throwError("%s: %v", api, err)
	}
	val, err := v.jsonParse(goja.Undefined(), v.rt.ToValue(string(data)))
	if err != nil {
		v.throwError("%s: stored value of %q is no JSON: %v", api, key, err)
	}
	return val
}

func (v *vm) storeSet(call goja.FunctionCall) goja.Value {
	const api = "s.store.set"
	bd := v.binding(api)
	st := v.needStore(api)
	key := v.dataKey(call, api)
	val := call.Argument(1)
	if goja.IsUndefined(val) {
		v.throwType("%s: no value for %q; use s.store.delete to remove a key", api, key)
	}
	js, err := v.jsonStringify(goja.Undefined(), val)
	if err != nil {
		v.rethrow(err)
	}
	if goja.IsUndefined(js) {
		v.throwType("%s: %s cannot be stored as JSON", api, typeName(val))
	}
	text := js.String()
	v.blocking(bd, func() {
		err = v.withDevice(bd, st, func() error { return st.SetData(bd.ctx, bd.s.Device().ID, key, []byte(text)) })
	})
	if errors.Is(err, store.ErrInvalid) {
		v.throwRange("%s: %v", api, err)
	}
	if err != nil {
		v.throwError("%s: %v", api, err)
	}
	return goja.Undefined()
}

func (v *vm) storeDelete(call goja.FunctionCall) goja.Value {
	const api = "s.store.delete"
	bd := v.binding(api)
	st := v.needStore(api)
	key := v.dataKey(call, api)
	var err error
	v.blocking(bd, func() { err = st.DeleteData(bd.ctx, bd.s.Device().ID, key) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		v.throwError("%s: %v", api, err)
	}
	return goja.Undefined()
}

// ---- session data ----

func (v *vm) sessEvents(goja.FunctionCall) goja.Value {
	bd := v.binding("s.events")
	if bd.events != nil {
		return bd.events
	}
	var items []any
	if in := bd.s.Inform(); in != nil {
		for _, e := range in.Events {
			items = append(items, string(cwmp.ParseEvent(string(e.EventCode)).Code))
		}
	}
	bd.events = v.rt.NewArray(items...)
	return bd.events
}

func (v *vm) sessCommandKey(call goja.FunctionCall) goja.Value {
	bd := v.binding("s.commandKey")
	want, ok := eventKey(v.argString(call, 0, "s.commandKey", "the event code"))
	if !ok {
		return goja.Undefined()
	}
	if in := bd.s.Inform(); in != nil {
		for _, e := range in.Events {
			if k, ok := eventKey(string(e.EventCode)); ok && k == want {
				return v.rt.ToValue(e.CommandKey)
			}
		}
	}
	return goja.Undefined()
}

func (v *vm) sessInform(goja.FunctionCall) goja.Value {
	bd := v.binding("s.inform")
	if bd.inform != nil {
		return bd.inform
	}
	out := v.rt.NewObject()
	in := bd.s.Inform()
	if in == nil {
		return out
	}
	if len(in.ParameterList) > v.e.opts.MaxValues {
		v.throwRange("s.inform: the Inform carries %d parameters; scripts accept at most %d", len(in.ParameterList), v.e.opts.MaxValues)
	}
	for _, p := range in.ParameterList {
		_ = out.Set(p.Name, v.toJS(p.Name, typeFor(p.Name, string(p.Value.Type)), p.Value.Text))
	}
	bd.inform = out
	return out
}

// ---- logging ----

// callerPos is "file:line" of the script code calling into Go.
func (v *vm) callerPos() string {
	frames := v.rt.CaptureCallStack(4, nil)
	if file, line, _, ok := firstScriptFrame(frames); ok {
		return file + ":" + strconv.Itoa(line)
	}
	return ""
}

func clip(s string) string {
	if len(s) > maxLogText {
		return s[:maxLogText] + "…"
	}
	return s
}

func (v *vm) emit(level slog.Level, msg string, attrs []any) {
	src := v.callerPos()
	if bd := v.cur; bd != nil {
		bd.st.logLines++
		switch {
		case bd.st.logLines == maxLogLines+1:
			bd.s.Logger().Warn("script log lines suppressed for the rest of the session", "limit", maxLogLines)
			return
		case bd.st.logLines > maxLogLines:
			return
		}
		event := ""
		if bd.reg != nil {
			event = bd.reg.Event
		}
		bd.s.Logger().Log(bd.ctx, level, clip(msg), append([]any{"script", src, "event", event}, attrs...)...)
		return
	}
	v.e.opts.Logger.Log(context.Background(), level, clip(msg), append([]any{"script", src}, attrs...)...)
}

func (v *vm) logFn(level slog.Level) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		msg := call.Argument(0).String()
		var attrs []any
		if o, ok := call.Argument(1).(*goja.Object); ok {
			for _, k := range o.Keys() {
				attrs = append(attrs, clip(k), v.logValue(o.Get(k)))
			}
		}
		v.emit(level, msg, attrs)
		return goja.Undefined()
	}
}

func (v *vm) consoleFn(level slog.Level) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		parts := make([]string, len(call.Arguments))
		for i, a := range call.Arguments {
			if o, ok := a.(*goja.Object); ok && o.ClassName() != "Error" {
				if js, err := v.jsonStringify(goja.Undefined(), o); err == nil && !goja.IsUndefined(js) {
					parts[i] = js.String()
					continue
				}
			}
			parts[i] = a.String()
		}
		v.emit(level, strings.Join(parts, " "), nil)
		return goja.Undefined()
	}
}

func (v *vm) logValue(val goja.Value) any {
	switch x := val.Export().(type) {
	case string:
		return clip(x)
	case int64, float64, bool, nil:
		return x
	}
	if js, err := v.jsonStringify(goja.Undefined(), val); err == nil && !goja.IsUndefined(js) {
		return clip(js.String())
	}
	return clip(val.String())
}

// ---- provisor.on and provisor.version ----

func (v *vm) on(call goja.FunctionCall) goja.Value {
	if !v.loadPhase {
		v.throwError("provisor.on can only be called while a script loads, not inside a handler")
	}
	r, err := parseRegistration(v.rt, call.Argument(0), call.Argument(2))
	if err != nil {
		v.throwType("%v", err)
	}
	fn, ok := goja.AssertFunction(call.Argument(1))
	if !ok {
		v.throwType("provisor.on(%q): the handler must be a function, not %s", r.Event, typeName(call.Argument(1)))
	}
	frames := v.rt.CaptureCallStack(4, nil)
	if file, line, col, ok := firstScriptFrame(frames); ok {
		r.File, r.Line, r.Column = file, line, col
	}
	v.regs = append(v.regs, regEntry{meta: r, fn: fn})
	return goja.Undefined()
}

func (v *vm) versionFn(name string, result func(int) any) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		a, b := call.Argument(0), call.Argument(1)
		if goja.IsUndefined(a) || goja.IsUndefined(b) || goja.IsNull(a) || goja.IsNull(b) {
			v.throwType("provisor.version.%s: two versions are needed", name)
		}
		return v.rt.ToValue(result(CompareVersions(a.String(), b.String())))
	}
}
