package script

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// preludeName is the file name of the engine's own JavaScript; frames in
// it are left out of script stacks.
const preludeName = "<provisor>"

// The prelude defines what is easier to write in JavaScript than to build
// from Go: the CwmpFault class, so that scripts can test instanceof.
var prelude = goja.MustCompile(preludeName, `(function () {
	class CwmpFault extends Error {
		constructor(code, message, parameters, method) {
			super(message);
			this.name = "CwmpFault";
			this.code = code;
			this.parameters = parameters || [];
			this.method = method;
		}
	}
	// One call from Go builds a session's objects; defining the
	// properties one by one from Go costs several times more.
	function bindSession(sessionProto, deviceProto, store, log, sid, id, oui, productClass, serialNumber, manufacturer, root, isNew, cwmpVersion) {
		const device = Object.create(deviceProto);
		device.id = id;
		device.oui = oui;
		device.productClass = productClass;
		device.serialNumber = serialNumber;
		device.manufacturer = manufacturer;
		device.root = root;
		device.isNew = isNew;
		device.cwmpVersion = cwmpVersion;
		const s = Object.create(sessionProto);
		s.id = sid;
		s.event = "";
		s.device = device;
		s.store = store;
		s.log = log;
		return s;
	}
	return { CwmpFault: CwmpFault, bindSession: bindSession };
})()`, true)

// vm is one goja runtime that evaluated a bundle's entry scripts. A session
// uses one vm at a time and a vm serves one session at a time.
type vm struct {
	b  *Bundle
	e  *Engine
	rt *goja.Runtime
	wd watchdog
	// broken is set when the runtime may be in a state no later session
	// should inherit: interrupted mid-way, stack overflow, a Go panic.
	broken bool

	// CommonJS modules: path -> module object, and the chain being loaded.
	modules map[string]*goja.Object
	loading []string
	builtin map[string]goja.Value

	loadPhase bool
	regs      []regEntry
	handlers  []goja.Callable // by Registration.index

	jsonStringify goja.Callable
	jsonParse     goja.Callable
	errorCtor     *goja.Object
	rangeErrCtor  *goja.Object
	faultCtor     *goja.Object
	deviceProto   *goja.Object
	storeObj      *goja.Object
	logObj        *goja.Object
	sessionProto  *goja.Object
	bindSession   goja.Callable

	rng       *rand.ChaCha8
	loadSeed  [32]byte
	rngFor    string // the device whose sequence Math.random gives
	rngSeeded bool
	now       time.Time

	cur *binding
}

type regEntry struct {
	meta *Registration
	fn   goja.Callable
}

// newVM makes a runtime and evaluates the bundle's entries in it. The first
// runtime of a bundle (validating) decides which entries load and records
// the problems; later runtimes must reproduce its registrations exactly.
func newVM(b *Bundle, validating bool) (*vm, error) {
	o := b.e.opts
	rt := goja.New()
	v := &vm{b: b, e: b.e, rt: rt, modules: map[string]*goja.Object{}, builtin: map[string]goja.Value{}, now: b.Loaded}
	v.wd.rt = rt
	v.loadSeed = v.seedFor("")
	v.rng = rand.NewChaCha8(v.loadSeed)
	v.rngSeeded = true
	rt.SetMaxCallStackSize(o.MaxCallStackSize)
	rt.SetRandSource(v.random)
	rt.SetTimeSource(v.clock)

	json := rt.Get("JSON").ToObject(rt)
	v.jsonStringify, _ = goja.AssertFunction(json.Get("stringify"))
	v.jsonParse, _ = goja.AssertFunction(json.Get("parse"))
	v.errorCtor = rt.Get("Error").ToObject(rt)
	v.rangeErrCtor = rt.Get("RangeError").ToObject(rt)
	pre, err := rt.RunProgram(prelude)
	if err != nil {
		return nil, fmt.Errorf("script prelude: %w", err)
	}
	v.faultCtor = pre.ToObject(rt).Get("CwmpFault").ToObject(rt)
	v.bindSession, _ = goja.AssertFunction(pre.ToObject(rt).Get("bindSession"))
	v.installAPI()

	v.loadPhase = true
	kept := b.entries[:0:0]
	for _, entry := range b.entries {
		before := len(v.regs)
		err := v.loadEntry(entry)
		if err == nil {
			kept = append(kept, entry)
			continue
		}
		fe := v.fileError(err, entry)
		if !validating {
			return nil, fmt.Errorf("%s loaded in the first runtime of the bundle but not in another: %v", entry, fe)
		}
		b.Errors = append(b.Errors, fe)
		v.regs = v.regs[:before]
		// Modules the failed entry loaded stay cached; what they
		// registered was dropped with the entry's registrations.
	}
	v.loadPhase = false
	if validating {
		b.entries = kept
	} else if err := v.checkRegs(); err != nil {
		return nil, err
	}
	v.handlers = make([]goja.Callable, len(v.regs))
	for i, r := range v.regs {
		v.handlers[i] = r.fn
	}
	b.live.Add(1)
	return v, nil
}

// regMeta returns the registrations in run order, numbered in load order.
func (v *vm) regMeta() []*Registration {
	out := make([]*Registration, len(v.regs))
	for i, r := range v.regs {
		r.meta.index = i
		out[i] = r.meta
	}
	slices.SortStableFunc(out, func(a, b *Registration) int {
		switch {
		case a.Order < b.Order:
			return -1
		case a.Order > b.Order:
			return 1
		}
		return 0
	})
	return out
}

func (v *vm) checkRegs() error {
	want := v.b.Registrations
	if len(want) != len(v.regs) {
		return fmt.Errorf("scripts registered %d handlers in one runtime and %d in another; registration must not depend on anything but the files", len(want), len(v.regs))
	}
	for _, w := range want {
		got := v.regs[w.index].meta
		if got.File != w.File || got.Line != w.Line || got.Column != w.Column || got.Event != w.Event {
			return fmt.Errorf("registration %s (%s) came out as %s (%s) in another runtime; registration must not depend on anything but the files", w.Where(), w.Event, got.Where(), got.Event)
		}
	}
	return nil
}

func (v *vm) close() {
	v.wd.stop()
	v.b.live.Add(-1)
}

// seedFor derives the Math.random key of a device: keyed by the engine's
// secret so that nobody can predict a device's sequence from its ID.
func (v *vm) seedFor(deviceID string) [32]byte {
	m := hmac.New(sha256.New, v.e.opts.Secret)
	m.Write([]byte("provisor script random\x00"))
	m.Write([]byte(deviceID))
	var seed [32]byte
	copy(seed[:], m.Sum(nil))
	return seed
}

func (v *vm) random() float64 {
	if !v.rngSeeded {
		if v.rngFor == "" {
			v.rng.Seed(v.loadSeed)
		} else {
			v.rng.Seed(v.seedFor(v.rngFor))
		}
		v.rngSeeded = true
	}
	return float64(v.rng.Uint64()>>11) / (1 << 53)
}

func (v *vm) clock() time.Time { return v.now }

// loadEntry evaluates one entry script under the load budget.
func (v *vm) loadEntry(entry string) (err error) {
	v.rt.ClearInterrupt()
	v.wd.arm(v.e.opts.LoadBudget, &TimeoutError{Budget: "load", Limit: v.e.opts.LoadBudget.String()})
	defer func() {
		v.wd.disarm()
		if p := recover(); p != nil {
			v.broken = true
			err = fmt.Errorf("internal error while loading: %v\n%s", p, debug.Stack())
		}
	}()
	_, err = v.require("", "./"+entry)
	return err
}

// ---- errors ----

func (v *vm) newError(ctor *goja.Object, msg string) *goja.Object {
	o, err := v.rt.New(ctor, v.rt.ToValue(msg))
	if err != nil {
		panic(err)
	}
	return o
}

// throwType, throwError and throwRange raise JavaScript exceptions from a
// Go callback; goja turns the panic into a throw at the caller's line.
func (v *vm) throwType(format string, args ...any) {
	panic(v.rt.NewTypeError(fmt.Sprintf(format, args...)))
}

func (v *vm) throwError(format string, args ...any) {
	panic(v.newError(v.errorCtor, fmt.Sprintf(format, args...)))
}

func (v *vm) throwRange(format string, args ...any) {
	panic(v.newError(v.rangeErrCtor, fmt.Sprintf(format, args...)))
}

// rethrow passes an error from a nested JavaScript call on unchanged, so
// that its original position survives; Go errors become Error objects.
func (v *vm) rethrow(err error) {
	var ex *goja.Exception
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	if errors.As(err, &ie) || errors.As(err, &so) || errors.As(err, &ex) {
		panic(err)
	}
	panic(v.newError(v.errorCtor, err.Error()))
}

// fileError locates an error from running script code.
func (v *vm) fileError(err error, fallback string) *FileError {
	fe := &FileError{File: fallback, Message: err.Error()}
	var frames []goja.StackFrame
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	var ex *goja.Exception
	switch {
	case errors.As(err, &ie):
		frames = ie.Stack()
		if cause, ok := ie.Value().(error); ok {
			fe.Message = cause.Error()
			fe.Cause = cause
		} else {
			fe.Message = fmt.Sprint(ie.Value())
		}
	case errors.As(err, &so):
		frames = so.Stack()
		fe.Message = fmt.Sprintf("RangeError: maximum call stack size (%d) exceeded", v.e.opts.MaxCallStackSize)
	case errors.As(err, &ex):
		frames = ex.Stack()
		fe.Message = exceptionMessage(ex.Value())
		if len(frames) == 0 {
			if o, ok := ex.Value().(*goja.Object); ok {
				if s := o.Get("stack"); s != nil && !goja.IsUndefined(s) {
					locateFromStack(fe, s.String())
				}
			}
		}
	}
	if file, line, col, ok := firstScriptFrame(frames); ok {
		fe.File, fe.Line, fe.Column = file, line, col
	}
	if len(frames) > 0 {
		fe.Stack = formatStack(frames)
	}
	return fe
}

// ---- CommonJS ----

// nodeBuiltins are modules scripts from the Node world reach for; they get
// a clearer refusal than "not found".
var nodeBuiltins = map[string]bool{"fs": true, "path": true, "os": true, "child_process": true, "http": true, "https": true, "net": true, "process": true, "crypto": true, "dns": true, "url": true, "util": true}

func (v *vm) requireFn(from string) goja.Value {
	return v.rt.ToValue(func(call goja.FunctionCall) goja.Value {
		spec, ok := call.Argument(0).Export().(string)
		if !ok {
			v.throwType("require: the module name must be a string, not %s", typeName(call.Argument(0)))
		}
		val, err := v.require(from, spec)
		if err != nil {
			v.rethrow(err)
		}
		return val
	})
}

func (v *vm) require(from, spec string) (goja.Value, error) {
	if val, ok := v.builtin[spec]; ok {
		return val, nil
	}
	if name, ok := strings.CutPrefix(spec, pluginPrefix); ok {
		return v.pluginModule(name)
	}
	p, err := v.resolve(from, spec)
	if err != nil {
		return nil, err
	}
	if m, ok := v.modules[p]; ok {
		return m.Get("exports"), nil
	}
	if i := slices.Index(v.loading, p); i >= 0 {
		chain := append(slices.Clone(v.loading[i:]), p)
		return nil, fmt.Errorf("require cycle: %s; move what both files need into a third module", strings.Join(chain, " -> "))
	}
	src := v.b.files[p]
	module := v.rt.NewObject()
	_ = module.Set("id", p)
	_ = module.Set("filename", p)
	if strings.HasSuffix(p, ".json") {
		val, err := v.jsonParse(goja.Undefined(), v.rt.ToValue(src.json))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		_ = module.Set("exports", val)
		v.modules[p] = module
		return val, nil
	}
	if src.prog == nil {
		return nil, fmt.Errorf("cannot load %s: %s", p, src.err)
	}
	v.loading = append(v.loading, p)
	defer func() { v.loading = v.loading[:len(v.loading)-1] }()
	fnv, err := v.rt.RunProgram(src.prog)
	if err != nil {
		return nil, err
	}
	fn, ok := goja.AssertFunction(fnv)
	if !ok {
		return nil, fmt.Errorf("%s: module wrapper is no function", p)
	}
	exports := v.rt.NewObject()
	_ = module.Set("exports", exports)
	dir := path.Dir(p)
	if _, err := fn(exports, exports, v.requireFn(p), module, v.rt.ToValue(p), v.rt.ToValue(dir)); err != nil {
		return nil, err
	}
	_ = module.Set("loaded", true)
	v.modules[p] = module
	return module.Get("exports"), nil
}

func (v *vm) resolve(from, spec string) (string, error) {
	where := ""
	if from != "" {
		where = " (required from " + from + ")"
	}
	if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
		if nodeBuiltins[spec] || strings.HasPrefix(spec, "node:") {
			return "", fmt.Errorf("cannot find module %q%s: scripts have no access to the host; use the s.device, s.store and s.log APIs", spec, where)
		}
		return "", fmt.Errorf("cannot find module %q%s: only relative paths (\"./lib/util\") and the provisor modules (\"provisor\", \"provisor/log\", \"provisor/x/<plugin>\") can be required", spec, where)
	}
	p := path.Join(path.Dir(from), spec)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("cannot require %q%s: it is outside the scripts directory", spec, where)
	}
	for _, c := range []string{p, p + ".js", p + ".json", p + "/index.js"} {
		if _, ok := v.b.files[c]; ok {
			return c, nil
		}
	}
	return "", fmt.Errorf("cannot find module %q%s: no %s in the scripts directory", spec, where, p+".js")
}

// ---- time budget ----

// watchdog interrupts the runtime when the JavaScript running now has used
// up its budget. It is armed only while JavaScript runs: a handler waiting
// for the device does not spend its budget.
type watchdog struct {
	mu       sync.Mutex
	rt       *goja.Runtime
	timer    *time.Timer
	deadline time.Time // zero while disarmed
	reason   error
}

func (w *watchdog) arm(d time.Duration, reason error) {
	w.mu.Lock()
	w.deadline = time.Now().Add(d)
	w.reason = reason
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
	} else {
		w.timer.Reset(d)
	}
	w.mu.Unlock()
}

func (w *watchdog) disarm() {
	w.mu.Lock()
	w.deadline = time.Time{}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

// fire runs on the timer's goroutine. A callback that was already on its
// way when the watchdog was re-armed sees a deadline in the future and
// leaves the runtime alone.
func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.deadline.IsZero() && !time.Now().Before(w.deadline) {
		w.rt.Interrupt(w.reason)
	}
}

// interrupt stops the JavaScript running now, if any, for reason.
func (w *watchdog) interrupt(reason error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.deadline.IsZero() {
		w.rt.Interrupt(reason)
	}
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = time.Time{}
	if w.timer != nil {
		w.timer.Stop()
	}
}
