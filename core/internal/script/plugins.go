package script

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/provisor/provisor/core/internal/hook"
)

// pluginPrefix is the require() prefix of plugin modules.
const pluginPrefix = "provisor/x/"

// ModuleFunc is a Go function that scripts call as
// require("provisor/x/<module>").<name>(…). Arguments and the result cross
// the boundary as JSON, as they do on the plugin wire.
type ModuleFunc func(ctx context.Context, c ModuleCall) (any, error)

// ModuleCall is one call of a ModuleFunc.
type ModuleCall struct {
	// Session is the session of the calling handler, nil when the script
	// calls while it loads.
	Session hook.Session
	// Args are the JavaScript arguments decoded from JSON: nil, bool,
	// float64, string, []any or map[string]any.
	Args []any
}

// moduleLoadTimeout bounds a plugin call made while a script loads, when
// there is no session context.
const moduleLoadTimeout = 5 * time.Second

var moduleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

type modules struct {
	mu sync.RWMutex
	m  map[string]map[string]ModuleFunc
}

// RegisterModule makes funcs available to scripts as
// require("provisor/x/<name>"). The plugin host calls it when a plugin that
// exports functions starts, and again with the new functions after a
// restart; runtimes look functions up at each call, so a restarted plugin
// is used at once. Registering under an existing name replaces it. Scripts
// that required a module before it was registered failed to load; Watch
// reloads the bundle at its next poll (or call Load).
func (e *Engine) RegisterModule(name string, funcs map[string]ModuleFunc) error {
	if !moduleName.MatchString(name) {
		return fmt.Errorf("script module name %q: want lower-case letters, digits, '-' and '_'", name)
	}
	cp := make(map[string]ModuleFunc, len(funcs))
	for k, f := range funcs {
		if k == "" || f == nil {
			return fmt.Errorf("script module %s: empty function name or nil function", name)
		}
		cp[k] = f
	}
	e.mods.mu.Lock()
	defer e.mods.mu.Unlock()
	if e.mods.m == nil {
		e.mods.m = map[string]map[string]ModuleFunc{}
	}
	e.mods.m[name] = cp
	e.modsChanged.Store(true)
	return nil
}

// UnregisterModule removes a module; calls into it then throw.
func (e *Engine) UnregisterModule(name string) {
	e.mods.mu.Lock()
	delete(e.mods.m, name)
	e.mods.mu.Unlock()
	e.modsChanged.Store(true)
}

func (e *Engine) moduleFuncs(name string) ([]string, bool) {
	e.mods.mu.RLock()
	defer e.mods.mu.RUnlock()
	m, ok := e.mods.m[name]
	if !ok {
		return nil, false
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names, true
}

func (e *Engine) moduleFunc(mod, fn string) (ModuleFunc, bool) {
	e.mods.mu.RLock()
	defer e.mods.mu.RUnlock()
	f, ok := e.mods.m[mod][fn]
	return f, ok
}

// pluginModule builds the object a script gets from
// require("provisor/x/<name>").
func (v *vm) pluginModule(name string) (goja.Value, error) {
	spec := pluginPrefix + name
	names, ok := v.e.moduleFuncs(name)
	if !ok {
		return nil, fmt.Errorf("cannot find module %q: no plugin providing script functions named %q is loaded", spec, name)
	}
	obj := v.rt.NewObject()
	for _, fn := range names {
		v.method(obj, fn, v.pluginCall(name, fn))
	}
	v.builtin[spec] = obj
	return obj, nil
}

func (v *vm) pluginCall(mod, fn string) func(goja.FunctionCall) goja.Value {
	api := pluginPrefix + mod + "." + fn
	return func(call goja.FunctionCall) goja.Value {
		f, ok := v.e.moduleFunc(mod, fn)
		if !ok {
			v.throwError("%s: the plugin no longer provides this function", api)
		}
		args := make([]any, len(call.Arguments))
		for i, a := range call.Arguments {
			if goja.IsUndefined(a) {
				continue
			}
			js, err := v.jsonStringify(goja.Undefined(), a)
			if err != nil {
				v.rethrow(err)
			}
			if goja.IsUndefined(js) {
				v.throwType("%s: argument %d cannot be sent as JSON", api, i+1)
			}
			if err := json.Unmarshal([]byte(js.String()), &args[i]); err != nil {
				v.throwType("%s: argument %d: %v", api, i+1, err)
			}
		}
		var res any
		var err error
		if bd := v.cur; bd != nil {
			v.blocking(bd, func() { res, err = f(bd.ctx, ModuleCall{Session: bd.s, Args: args}) })
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), moduleLoadTimeout)
			res, err = f(ctx, ModuleCall{Args: args})
			cancel()
		}
		if err != nil {
			v.throwError("%s: %v", api, err)
		}
		if res == nil {
			return goja.Undefined()
		}
		data, err := json.Marshal(res)
		if err != nil {
			v.throwError("%s: result is no JSON: %v", api, err)
		}
		if len(data) > v.e.opts.MaxStringLen {
			v.throwRange("%s: result of %d bytes; scripts accept at most %d", api, len(data), v.e.opts.MaxStringLen)
		}
		out, err := v.jsonParse(goja.Undefined(), v.rt.ToValue(string(data)))
		if err != nil {
			v.rethrow(err)
		}
		return out
	}
}
