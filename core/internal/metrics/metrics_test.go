package metrics

import (
	"bufio"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTextFormat(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("x_requests_total", "Requests,\nby code.", "code", "path")
	c.Inc("200", `/a"b\c`)
	c.Add(2, "500", "/")
	g := r.NewGauge("x_live", "Live things.")
	g.Set(3)
	g.Add(-1)
	h := r.NewHistogram("x_seconds", "Latency.", []float64{0.1, 1})
	h.Observe(0.05)
	h.Observe(0.5)
	h.Observe(7)
	r.NewGaugeFunc("x_func", "From a function.", func() float64 { return 42 })
	r.NewCollector("x_coll", "Collected.", KindCounter, []string{"k"}, func(emit func(float64, ...string)) {
		emit(1, "b")
		emit(2, "a")
		emit(3) // wrong arity: dropped, not fatal
	})
	r.NewCounter("x_unused_total", "Never incremented.", "l")

	want := `# HELP x_coll Collected.
# TYPE x_coll counter
x_coll{k="a"} 2
x_coll{k="b"} 1
# HELP x_func From a function.
# TYPE x_func gauge
x_func 42
# HELP x_live Live things.
# TYPE x_live gauge
x_live 2
# HELP x_requests_total Requests,\nby code.
# TYPE x_requests_total counter
x_requests_total{code="200",path="/a\"b\\c"} 1
x_requests_total{code="500",path="/"} 2
# HELP x_seconds Latency.
# TYPE x_seconds histogram
x_seconds_bucket{le="0.1"} 1
x_seconds_bucket{le="1"} 2
x_seconds_bucket{le="+Inf"} 3
x_seconds_sum 7.55
x_seconds_count 3
`
	if got := scrape(t, r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRegistrationIsIdempotent(t *testing.T) {
	r := NewRegistry()
	a := r.NewCounter("y_total", "h", "l")
	b := r.NewCounter("y_total", "h", "l")
	a.Inc("v")
	if b.Value("v") != 1 {
		t.Fatal("second registration is a different counter")
	}
	for _, bad := range []func(){
		func() { r.NewGauge("y_total", "h", "l") },
		func() { r.NewCounter("y_total", "h", "other") },
		func() { r.NewCounter("bad-name", "h") },
		func() { r.NewCounter("z_total", "h", "le") },
		func() { a.Inc() },
		func() { a.Add(-1, "v") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			bad()
		}()
	}
}

func TestConcurrentUpdates(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("c_total", "h", "l")
	h := r.NewHistogram("h_seconds", "h", nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc([]string{"a", "b"}[i%2])
				h.Observe(0.01)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			_ = r.WriteText(io.Discard)
		}
	})
	wg.Wait()
	if c.Value("a")+c.Value("b") != 8000 || h.Count() != 8000 {
		t.Fatalf("lost updates: %v %v %d", c.Value("a"), c.Value("b"), h.Count())
	}
}

// Every line of the default registry parses as exposition text.
func TestHandlerOutputParses(t *testing.T) {
	SessionEnded("ok", 1500e6)
	RPC("GetParameterValues", "ok")
	ScriptError("bootstrap.js", "exception")
	PluginError("mikrotik", "crash")
	ConnectionRequest("ok")
	rec := httptest.NewRecorder()
	Default.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(rec.Body)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if !strings.HasPrefix(line, "# HELP ") && !strings.HasPrefix(line, "# TYPE ") {
				t.Errorf("bad comment %q", line)
			}
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			t.Errorf("bad sample %q", line)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d samples", n)
	}
}
