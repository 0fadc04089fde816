// Package metrics keeps counters, gauges and histograms and writes them in
// the Prometheus text exposition format (version 0.0.4). It has no
// dependency: the format is small, and Provisor needs only the three
// instrument kinds plus collectors that read values on scrape.
//
// Registration is idempotent: asking a registry twice for the same name
// with the same kind and labels returns the same instrument, so packages
// can declare their instruments where they use them, and tests that build
// several servers in one process do not collide. Conflicting declarations
// panic, since they are programming errors that a scrape would otherwise
// report as garbage.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Kind is a metric family's type.
type Kind string

// Kinds of the exposition format.
const (
	KindCounter   Kind = "counter"
	KindGauge     Kind = "gauge"
	KindHistogram Kind = "histogram"
)

// Registry holds metric families. The zero value is not usable; call
// NewRegistry.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

// Default is the process-wide registry that `provisor serve` exposes.
var Default = NewRegistry()

type family struct {
	name, help string
	kind       Kind
	labels     []string
	buckets    []float64 // histograms only

	mu     sync.RWMutex
	series map[string]*series // key: label values joined by 0xff

	// collect, when set, produces the samples on scrape instead of series.
	collect func(emit func(v float64, labelValues ...string))
}

type series struct {
	labelValues []string
	val         atomicFloat
	counts      []atomic.Uint64 // histograms: one per bucket, not cumulative
	sum         atomicFloat
	count       atomic.Uint64
}

// atomicFloat is a float64 updated with compare-and-swap.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) add(v float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}
func (f *atomicFloat) set(v float64) { f.bits.Store(math.Float64bits(v)) }
func (f *atomicFloat) load() float64 { return math.Float64frombits(f.bits.Load()) }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

func (r *Registry) register(name, help string, kind Kind, labels []string, buckets []float64, collect func(func(float64, ...string))) *family {
	if !validName(name) {
		panic("metrics: invalid metric name " + strconv.Quote(name))
	}
	for _, l := range labels {
		if !validName(l) || strings.Contains(l, ":") || l == "le" {
			panic("metrics: invalid label name " + strconv.Quote(l) + " on " + name)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		if f.kind != kind || !slices.Equal(f.labels, labels) || !slices.Equal(f.buckets, buckets) || (f.collect == nil) != (collect == nil) {
			panic("metrics: " + name + " registered twice with different kinds, labels or buckets")
		}
		return f
	}
	f := &family{name: name, help: help, kind: kind, labels: slices.Clone(labels), buckets: slices.Clone(buckets),
		series: map[string]*series{}, collect: collect}
	r.families[name] = f
	return f
}

// get returns the series for the label values, creating it.
func (f *family) get(labelValues []string) *series {
	if len(labelValues) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", f.name, len(f.labels), len(labelValues)))
	}
	key := strings.Join(labelValues, "\xff")
	f.mu.RLock()
	s := f.series[key]
	f.mu.RUnlock()
	if s != nil {
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s = f.series[key]; s == nil {
		s = &series{labelValues: slices.Clone(labelValues)}
		if f.kind == KindHistogram {
			s.counts = make([]atomic.Uint64, len(f.buckets))
		}
		f.series[key] = s
	}
	return s
}

// Counter is a monotonically increasing value per label set.
type Counter struct{ f *family }

// NewCounter registers (or returns) a counter family.
func (r *Registry) NewCounter(name, help string, labels ...string) *Counter {
	return &Counter{r.register(name, help, KindCounter, labels, nil, nil)}
}

// Inc adds one.
func (c *Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// Add adds v, which must not be negative.
func (c *Counter) Add(v float64, labelValues ...string) {
	if v < 0 {
		panic("metrics: counter " + c.f.name + " decreased")
	}
	c.f.get(labelValues).val.add(v)
}

// Value returns the current value for the label values (0 when unseen).
func (c *Counter) Value(labelValues ...string) float64 { return c.f.get(labelValues).val.load() }

// Gauge is a value that goes up and down.
type Gauge struct{ f *family }

// NewGauge registers (or returns) a gauge family.
func (r *Registry) NewGauge(name, help string, labels ...string) *Gauge {
	return &Gauge{r.register(name, help, KindGauge, labels, nil, nil)}
}

// Set sets the value.
func (g *Gauge) Set(v float64, labelValues ...string) { g.f.get(labelValues).val.set(v) }

// Add adds v (negative to subtract).
func (g *Gauge) Add(v float64, labelValues ...string) { g.f.get(labelValues).val.add(v) }

// Value returns the current value.
func (g *Gauge) Value(labelValues ...string) float64 { return g.f.get(labelValues).val.load() }

// Histogram counts observations in buckets.
type Histogram struct{ f *family }

// DefaultBuckets suit durations in seconds from a millisecond to a minute.
var DefaultBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// NewHistogram registers (or returns) a histogram family. Buckets are upper
// bounds in increasing order; +Inf is implied.
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) *Histogram {
	if len(buckets) == 0 {
		buckets = DefaultBuckets
	}
	if !slices.IsSorted(buckets) {
		panic("metrics: buckets of " + name + " not sorted")
	}
	return &Histogram{r.register(name, help, KindHistogram, labels, buckets, nil)}
}

// Observe records one value.
func (h *Histogram) Observe(v float64, labelValues ...string) {
	s := h.f.get(labelValues)
	if i, _ := slices.BinarySearch(h.f.buckets, v); i < len(s.counts) {
		s.counts[i].Add(1)
	}
	s.sum.add(v)
	s.count.Add(1)
}

// Count returns how many values were observed.
func (h *Histogram) Count(labelValues ...string) uint64 { return h.f.get(labelValues).count.Load() }

// NewCollector registers a family whose samples are produced on each
// scrape by collect, which calls emit once per label set. Use it for values
// another component already counts (store statistics, live sessions).
// kind is KindCounter or KindGauge.
func (r *Registry) NewCollector(name, help string, kind Kind, labels []string, collect func(emit func(v float64, labelValues ...string))) {
	if kind == KindHistogram {
		panic("metrics: collectors cannot be histograms")
	}
	if collect == nil {
		panic("metrics: nil collector for " + name)
	}
	f := r.register(name, help, kind, labels, nil, collect)
	// A second registration replaces the function: the newest component
	// (a restarted store, a new test server) is the one to read.
	r.mu.Lock()
	f.collect = collect
	r.mu.Unlock()
}

// NewGaugeFunc registers a gauge read from f on each scrape.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64) {
	r.NewCollector(name, help, KindGauge, nil, func(emit func(float64, ...string)) { emit(f()) })
}

// NewCounterFunc registers a counter read from f on each scrape.
func (r *Registry) NewCounterFunc(name, help string, f func() float64) {
	r.NewCollector(name, help, KindCounter, nil, func(emit func(float64, ...string)) { emit(f()) })
}

// ContentType is the exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText writes every family in the text exposition format, families
// sorted by name and series by label values, so that output is stable.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	collects := make(map[*family]func(func(float64, ...string)), len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
		collects[f] = f.collect
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		f.write(bw, collects[f])
	}
	return bw.Flush()
}

func (f *family) write(w *bufio.Writer, collect func(func(float64, ...string))) {
	type sample struct {
		labels []string
		v      float64
	}
	var samples []sample
	var hist []*series
	if collect != nil {
		collect(func(v float64, lv ...string) {
			if len(lv) != len(f.labels) {
				return // a collector bug must not break the whole scrape
			}
			samples = append(samples, sample{slices.Clone(lv), v})
		})
	} else {
		f.mu.RLock()
		for _, s := range f.series {
			if f.kind == KindHistogram {
				hist = append(hist, s)
			} else {
				samples = append(samples, sample{s.labelValues, s.val.load()})
			}
		}
		f.mu.RUnlock()
	}
	if len(samples) == 0 && len(hist) == 0 && len(f.labels) > 0 {
		return // nothing observed yet; an empty family says nothing
	}
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.kind)
	if f.kind != KindHistogram {
		slices.SortFunc(samples, func(a, b sample) int { return slices.Compare(a.labels, b.labels) })
		if len(samples) == 0 {
			samples = append(samples, sample{nil, 0})
		}
		for _, s := range samples {
			w.WriteString(f.name)
			writeLabels(w, f.labels, s.labels, "", "")
			w.WriteByte(' ')
			w.WriteString(formatFloat(s.v))
			w.WriteByte('\n')
		}
		return
	}
	slices.SortFunc(hist, func(a, b *series) int { return slices.Compare(a.labelValues, b.labelValues) })
	for _, s := range hist {
		var cum uint64
		for i, ub := range f.buckets {
			cum += s.counts[i].Load()
			w.WriteString(f.name + "_bucket")
			writeLabels(w, f.labels, s.labelValues, "le", formatFloat(ub))
			w.WriteString(" " + strconv.FormatUint(cum, 10) + "\n")
		}
		// Read count after the buckets: an observation racing the scrape
		// then shows in count, never in a bucket without count.
		count := s.count.Load()
		count = max(count, cum)
		w.WriteString(f.name + "_bucket")
		writeLabels(w, f.labels, s.labelValues, "le", "+Inf")
		w.WriteString(" " + strconv.FormatUint(count, 10) + "\n")
		w.WriteString(f.name + "_sum")
		writeLabels(w, f.labels, s.labelValues, "", "")
		w.WriteString(" " + formatFloat(s.sum.load()) + "\n")
		w.WriteString(f.name + "_count")
		writeLabels(w, f.labels, s.labelValues, "", "")
		w.WriteString(" " + strconv.FormatUint(count, 10) + "\n")
	}
}

func writeLabels(w *bufio.Writer, names, values []string, extraName, extraValue string) {
	if len(names) == 0 && extraName == "" {
		return
	}
	w.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(n + `="` + escapeLabel(values[i]) + `"`)
	}
	if extraName != "" {
		if len(names) > 0 {
			w.WriteByte(',')
		}
		w.WriteString(extraName + `="` + extraValue + `"`)
	}
	w.WriteByte('}')
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Handler serves the registry in the text format.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_ = r.WriteText(w)
	})
}
