package script_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/script/scripttest"
	"github.com/provisor/provisor/core/internal/store"
)

// TestBudgets: a runaway handler is interrupted at its budget, cannot
// catch the interrupt, and the session goes on with the next handler.
func TestBudgets(t *testing.T) {
	cases := []struct {
		name    string
		opts    script.Options
		script  string
		errs    []string // expected messages of "script handler failed", in order
		where   []string
		out     string
		minTime time.Duration
	}{
		{
			name: "handler budget",
			opts: script.Options{HandlerBudget: 200 * time.Millisecond},
			script: `provisor.on("1 BOOT", (s) => {
	try { while (true) {} } catch (e) { s.store.set("caught", true); } finally { s.store.set("finally", true); }
});
provisor.on("1 BOOT", (s) => out(s, "next handler ran"), {order: 1});`,
			errs: []string{"script ran out of its handler time budget (200ms)"},
			// goja places a position inside a tight loop at the start of
			// its function.
			where:   []string{"a.js:3:"},
			out:     `"next handler ran"`,
			minTime: 200 * time.Millisecond,
		},
		{
			name: "session budget",
			opts: script.Options{HandlerBudget: 5 * time.Second, SessionBudget: 300 * time.Millisecond},
			script: `provisor.on("1 BOOT", (s) => { for (;;) {} });
provisor.on("1 BOOT", (s) => out(s, "must not run"), {order: 1});`,
			errs:    []string{"script ran out of its session time budget (300ms)", "script ran out of its session time budget (300ms)"},
			where:   []string{"a.js:3:", "a.js:4:"},
			minTime: 300 * time.Millisecond,
		},
		{
			name: "stack depth",
			opts: script.Options{MaxCallStackSize: 200},
			script: `function f(n) { return f(n + 1) + 1; }
provisor.on("1 BOOT", (s) => f(0));
provisor.on("1 BOOT", (s) => out(s, "next handler ran"), {order: 1});`,
			errs:  []string{"RangeError: maximum call stack size (200) exceeded"},
			where: []string{"a.js:3:"},
			out:   `"next handler ran"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := startACS(t, map[string]string{"a.js": prelude + tc.script}, acsConfig{opts: tc.opts})
			c := a.device(t, serialFor(tc.name))
			start := time.Now()
			c.session(cwmp.EventBoot)
			if d := time.Since(start); d < tc.minTime || d > tc.minTime+3*time.Second {
				t.Fatalf("session took %v", d)
			}
			errs := a.logs.find("script handler failed")
			if len(errs) != len(tc.errs) {
				t.Fatalf("errors %v", errs)
			}
			for i, e := range errs {
				if e["err"] != tc.errs[i] || !strings.HasPrefix(e["script"], tc.where[i]) || e["device"] != c.id || e["event"] != "1 BOOT" {
					t.Fatalf("error %d: %v", i, e)
				}
			}
			if a.data(t, c, "caught") != nil || a.data(t, c, "finally") != nil {
				t.Fatal("the interrupt was caught")
			}
			if tc.out != "" {
				a.expectOut(t, c, tc.out)
			} else if a.data(t, c, "out") != nil {
				t.Fatalf("out = %v", a.data(t, c, "out"))
			}
			if got := a.eng.Stats.Errors.Load(); got != int64(len(tc.errs)) {
				t.Fatalf("error count %d", got)
			}
			// The runtime that was interrupted is not reused; the next
			// session is served normally.
			c.session(cwmp.EventPeriodic)
		})
	}
}

// TestBudgetExcludesDeviceTime: waiting for the device does not spend the
// handler's budget.
func TestBudgetExcludesDeviceTime(t *testing.T) {
	e, logs := engineFor(t, map[string]string{"a.js": `
const provisor = require("provisor");
provisor.on("1 BOOT", (s) => {
	for (let i = 0; i < 4; i++) s.device.getValues("Device.DeviceInfo.UpTime");
	s.log.info("done");
});`}, script.Options{HandlerBudget: 100 * time.Millisecond})
	s := newFakeSession(t, "SNSLOW", cwmp.EventBoot)
	s.delay = 60 * time.Millisecond
	s.log = slog.New(logs)
	start := time.Now()
	if err := e.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 240*time.Millisecond || len(logs.find("done")) != 1 {
		t.Fatalf("took %v, log:\n%s", time.Since(start), logs)
	}
}

// TestSessionContextEnds: a session that ends while a handler runs stops
// the handler, even in an endless loop, and the error says the session
// ended.
func TestSessionContextEnds(t *testing.T) {
	e, _ := engineFor(t, map[string]string{"a.js": `
require("provisor").on("1 BOOT", (s) => { for (;;) {} });`}, script.Options{HandlerBudget: time.Minute, SessionBudget: time.Minute})
	s := newFakeSession(t, "SNCTX", cwmp.EventBoot)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := e.Run(ctx, s)
	if !errors.Is(err, hook.ErrSessionEnded) {
		t.Fatalf("err = %v", err)
	}
}

func TestSandbox(t *testing.T) {
	a := startACS(t, map[string]string{"a.js": prelude + `
provisor.on("1 BOOT", (s) => {
	const req = [];
	for (const m of ["fs", "child_process", "http", "lodash", "/etc/passwd", "../outside"]) {
		try { require(m); req.push("loaded " + m); } catch (e) { req.push(e.message); }
	}
	out(s, {
		globals: [typeof process, typeof setTimeout, typeof fetch, typeof XMLHttpRequest, typeof global, typeof Deno],
		req,
	});
});
provisor.on("2 PERIODIC", (s) => {
	const r = [];
	try { provisor.on("1 BOOT", () => {}); } catch (e) { r.push(e.message); }
	try { s.device.getValues("Device.X_Big"); } catch (e) { r.push(e.name); }
	try { s.device.get("Device.X_Big"); } catch (e) { r.push(e.name); }
	r.push([Object.getPrototypeOf(s.device), provisor, provisor.version, s.store, s.log, console].every(Object.isFrozen));
	out(s, r);
});
`}, acsConfig{opts: script.Options{MaxStringLen: 100}})
	c := a.device(t, "SNSANDBOX")
	c.session(cwmp.EventBoot)
	a.expectOut(t, c, `{"globals":["undefined","undefined","undefined","undefined","undefined","undefined"],"req":[
		"cannot find module \"fs\" (required from a.js): scripts have no access to the host; use the s.device, s.store and s.log APIs",
		"cannot find module \"child_process\" (required from a.js): scripts have no access to the host; use the s.device, s.store and s.log APIs",
		"cannot find module \"http\" (required from a.js): scripts have no access to the host; use the s.device, s.store and s.log APIs",
		"cannot find module \"lodash\" (required from a.js): only relative paths (\"./lib/util\") and the provisor modules (\"provisor\", \"provisor/log\", \"provisor/x/<plugin>\") can be required",
		"cannot find module \"/etc/passwd\" (required from a.js): only relative paths (\"./lib/util\") and the provisor modules (\"provisor\", \"provisor/log\", \"provisor/x/<plugin>\") can be required",
		"cannot require \"../outside\" (required from a.js): it is outside the scripts directory"]}`)
	c.Define("Device.X_Big", scripttest.Param{Value: strings.Repeat("x", 101), Type: cwmp.TypeString})
	c.session(cwmp.EventPeriodic)
	a.expectOut(t, c, `["provisor.on can only be called while a script loads, not inside a handler","RangeError","RangeError",true]`)
}

// TestDeterminism: Math.random is the device's own sequence, the same in
// every session, and Date stands still at the session's start.
func TestDeterminism(t *testing.T) {
	files := map[string]string{"a.js": prelude + `
provisor.on("inform", (s) => {
	const t0 = Date.now();
	let x = 0;
	for (let i = 0; i < 100000; i++) x += i;
	out(s, {r: [Math.random(), Math.random(), Math.floor(Math.random() * 1e6)], same: Date.now() === t0 && new Date().getTime() === t0, now: t0});
});
`}
	a := startACS(t, files, acsConfig{opts: script.Options{Secret: []byte("one secret")}})
	c1 := a.device(t, "SNDET1")
	c2 := a.device(t, "SNDET2")
	run := func(c *cpe) map[string]any {
		c.session(cwmp.EventPeriodic)
		return a.data(t, c, "out").(map[string]any)
	}
	first, second, other := run(c1), run(c1), run(c2)
	if first["same"] != true {
		t.Fatalf("Date moved inside a handler: %v", first)
	}
	if !equalJSON(first["r"], second["r"]) {
		t.Fatalf("same device, different random numbers: %v %v", first["r"], second["r"])
	}
	if equalJSON(first["r"], other["r"]) {
		t.Fatalf("two devices share a random sequence: %v", first["r"])
	}
	_ = a.store.Flush(context.Background())
	hist, err := a.store.Sessions(context.Background(), c1.id, 1)
	if err != nil || len(hist) != 1 {
		t.Fatalf("history %v %v", hist, err)
	}
	if now := int64(second["now"].(float64)); now != hist[0].Started.UnixMilli() {
		t.Fatalf("Date.now() = %d, session started %d", now, hist[0].Started.UnixMilli())
	}

	// Another installation (another secret) gives the device another
	// sequence, so that nobody can predict it from the serial number.
	b := startACS(t, files, acsConfig{opts: script.Options{Secret: []byte("another secret")}})
	c3 := b.device(t, "SNDET1")
	c3.session(cwmp.EventPeriodic)
	if equalJSON(b.data(t, c3, "out").(map[string]any)["r"], first["r"]) {
		t.Fatal("the secret does not change the sequence")
	}
}

func equalJSON(a, b any) bool {
	as, bs := strings.TrimSpace(jsonString(a)), strings.TrimSpace(jsonString(b))
	return as == bs
}

// TestIsolation: a script that throws, at load or in a handler, or does not
// compile, does not keep the others from running.
func TestIsolation(t *testing.T) {
	a := startACS(t, map[string]string{
		"a-throws.js":    prelude + "provisor.on(\"1 BOOT\", (s) => { null.x; });\n",
		"b-works.js":     prelude + "provisor.on(\"1 BOOT\", (s) => out(s, \"b ran\"));\n",
		"c-load.js":      prelude + "provisor.on(\"1 BOOT\", (s) => out(s, \"c ran\"));\nthrow new Error(\"not configured\");\n",
		"d-syntax.js":    "const provisor = require(\"provisor\");\n\nconst x = ;\n",
		"e-badreg.js":    prelude + "provisor.on(\"boot\", (s) => {});\n",
		"f-badopt.js":    prelude + "provisor.on(\"1 BOOT\", (s) => {}, {productclass: \"x\"});\n",
		"g-nofn.js":      prelude + "provisor.on(\"1 BOOT\", \"not a function\");\n",
		"h-line1.js":     "let = = 1;",
		"lib/unused.js":  "}",
		"i-missing.js":   prelude + "require(\"./lib/nope\");\n",
		"j-requires.js":  prelude + "require(\"./lib/broken\");\n",
		"lib/broken.js":  "\n\nfunction (",
		"k-promise.js":   prelude + "provisor.on(\"2 PERIODIC\", async (s) => { throw new TypeError(\"async boom\"); });\n",
		"l-string.js":    prelude + "provisor.on(\"2 PERIODIC\", (s) => { throw \"plain string\"; });\n",
		"m-after.js":     prelude + "provisor.on(\"2 PERIODIC\", (s) => out(s, \"m ran\"));\n",
		"n-json.json.js": prelude + "provisor.on(\"2 PERIODIC\", (s) => s.store.set(\"n\", require(\"./lib/data.json\").v));\n",
		"lib/data.json":  `{"v": [1, 2]}`,
	}, acsConfig{})
	b := a.eng.Current()
	want := []string{
		"c-load.js:4:7: Error: not configured",
		"d-syntax.js:3:11: SyntaxError: Unexpected token ;",
		"e-badreg.js:3:12: TypeError: provisor.on: \"boot\" is no event code;",
		"f-badopt.js:3:12: TypeError: provisor.on: unknown option \"productclass\" (did you mean \"productClass\"?)",
		"g-nofn.js:3:12: TypeError: provisor.on(\"1 BOOT\"): the handler must be a function, not a string",
		"h-line1.js:1:7: SyntaxError: Unexpected token =",
		"i-missing.js:3:8: Error: cannot find module \"./lib/nope\" (required from i-missing.js): no lib/nope.js in the scripts directory",
		"j-requires.js:3:8: Error: cannot load lib/broken.js: lib/broken.js:3:10: SyntaxError: Unexpected token (",
		"lib/broken.js:3:10: SyntaxError: Unexpected token (",
		"lib/unused.js:1:2: SyntaxError: Unexpected end of input",
	}
	var got []string
	for _, fe := range b.Errors {
		got = append(got, fe.Error())
	}
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s", strings.Join(got, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error starting %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
	c := a.device(t, "SNISO")
	c.session(cwmp.EventBoot)
	a.expectOut(t, c, `"b ran"`)
	errs := a.logs.find("script handler failed")
	if len(errs) != 1 || errs[0]["err"] != "TypeError: Cannot read property 'x' of undefined" || errs[0]["script"] != "a-throws.js:3:37" {
		t.Fatalf("handler errors %v", errs)
	}
	c.session(cwmp.EventPeriodic)
	a.expectOut(t, c, `"m ran"`)
	if v := a.data(t, c, "n"); !equalJSON(v, []any{1.0, 2.0}) {
		t.Fatalf("json module: %v", v)
	}
	errs = a.logs.find("script handler failed")
	if len(errs) != 3 || errs[1]["err"] != "handler's promise rejected: TypeError: async boom" || errs[2]["err"] != "plain string" || errs[2]["script"] != "l-string.js:3:36" || errs[1]["script"] != "k-promise.js:3:48" {
		t.Fatalf("handler errors %v", errs)
	}
}

func jsonString(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}

// TestFaultPolicy: with the fault policy, the first error stops the
// session's remaining script handlers and is recorded as a device fault.
func TestFaultPolicy(t *testing.T) {
	a := startACS(t, map[string]string{"a.js": prelude + `
provisor.on("1 BOOT", (s) => { throw new Error("broken"); });
provisor.on("1 BOOT", (s) => out(s, "must not run"), {order: 1});
`}, acsConfig{opts: script.Options{OnError: script.Fault}})
	c := a.device(t, "SNPOLICY")
	c.session(cwmp.EventBoot)
	if v := a.data(t, c, "out"); v != nil {
		t.Fatalf("second handler ran: %v", v)
	}
	ctx := context.Background()
	faults, _, err := a.store.Faults(ctx, store.FaultFilter{DeviceID: c.id})
	if err != nil || len(faults) != 1 || faults[0].Code != 8002 || !strings.Contains(faults[0].Message, "a.js:4:38: Error: broken") {
		t.Fatalf("faults %+v %v", faults, err)
	}
	_ = a.store.Flush(ctx)
	hist, _ := a.store.Sessions(ctx, c.id, 1)
	if len(hist) != 1 || !strings.Contains(hist[0].Error, "broken") {
		t.Fatalf("session record %+v", hist)
	}
}

// TestRequire covers the module system: relative paths, index.js, JSON,
// one instance per module, module.exports, cycles.
func TestRequire(t *testing.T) {
	files := map[string]string{
		"main.js": `const provisor = require("provisor");
const counter = require("./lib/counter");
const again = require("./lib/counter.js");
const util = require("./lib/util");
const cfg = require("./lib/cfg.json");
provisor.log.info("loaded", {same: counter === again, count: counter.count(), util: util.name, cfg: cfg.name, dir: __dirname, file: __filename});
`,
		"lib/counter.js":    `let n = 0; module.exports = { count: () => ++n };`,
		"lib/util/index.js": `exports.name = require("./name").name;`,
		"lib/util/name.js":  `exports.name = "util:" + __filename;`,
		"lib/cfg.json":      `{"name": "cfg"}`,
		"cycle.js":          "require(\"./lib/a\");\n",
		"lib/a.js":          "module.exports = require(\"./b\");\n",
		"lib/b.js":          "\n\nmodule.exports = require(\"./a\");\n",
	}
	b, err := script.Check(writeDir(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Errors) != 1 || b.Errors[0].Error() != `lib/b.js:3:25: Error: require cycle: lib/a.js -> lib/b.js -> lib/a.js; move what both files need into a third module` {
		t.Fatalf("errors %v", b.Errors)
	}
	if !strings.Contains(b.Errors[0].Stack, "at lib/a.js:1:25") || !strings.Contains(b.Errors[0].Stack, "at cycle.js:1:8") {
		t.Fatalf("stack %q", b.Errors[0].Stack)
	}
	logs := &logRecorder{}
	e := script.New(script.Options{Dir: writeDir(t, files), Logger: slog.New(logs), PollInterval: -1})
	if _, err := e.Load(); err != nil {
		t.Fatal(err)
	}
	l := logs.find("loaded")
	if len(l) != 1 || l[0]["same"] != "true" || l[0]["count"] != "1" || l[0]["util"] != "util:lib/util/name.js" || l[0]["cfg"] != "cfg" || l[0]["dir"] != "." || l[0]["file"] != "main.js" {
		t.Fatalf("loaded: %v", l)
	}
}

func writeDir(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}
