package script_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/script"
)

// cannedSession answers every call at once with a fixed response, so that
// the benchmarks measure the engine and not a device.
type cannedSession struct {
	*fakeSession
}

func (s *cannedSession) Call(context.Context, cwmp.Body) (cwmp.Body, error) {
	return &cwmp.SetParameterValuesResponse{}, nil
}

func benchEngine(b *testing.B, handlers int, body string) {
	var src strings.Builder
	src.WriteString("const provisor = require(\"provisor\");\n")
	for range handlers {
		fmt.Fprintf(&src, "provisor.on(\"2 PERIODIC\", (s) => { %s });\n", body)
	}
	e, logs := engineFor(b, map[string]string{"a.js": src.String()}, script.Options{})
	s := &cannedSession{newFakeSession(b, "SNBENCH", cwmp.EventPeriodic)}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for range b.N {
		s.renew()
		if err := e.Run(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	cpu = processCPU() - cpu
	b.StopTimer()
	if n := len(logs.find("script handler failed")); n > 0 {
		b.Fatalf("%d handler errors", n)
	}
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*handlers), "cpu-ns/handler")
	}
}

// BenchmarkSessionEmptyHandler is the engine's cost for a session that runs
// one empty handler: matching, a pooled runtime, binding it to the session,
// the call under the time budget, and releasing it.
func BenchmarkSessionEmptyHandler(b *testing.B) { benchEngine(b, 1, "") }

// BenchmarkSessionOneSet adds one s.device.set: typing the value from the
// data model, building the RPC, and the budget pause around the call; the
// device answers at once.
func BenchmarkSessionOneSet(b *testing.B) {
	benchEngine(b, 1, `s.device.set({"Device.ManagementServer.PeriodicInformInterval": 300});`)
}

// BenchmarkSessionTwentyHandlers spreads the per-session cost over twenty
// empty handlers: ns/handler approaches the cost of one invocation.
func BenchmarkSessionTwentyHandlers(b *testing.B) { benchEngine(b, 20, "") }

// BenchmarkSessionNoMatch: a session none of the handlers is for costs no
// runtime at all.
func BenchmarkSessionNoMatch(b *testing.B) {
	e, _ := engineFor(b, map[string]string{"a.js": `require("provisor").on("1 BOOT", (s) => {});`}, script.Options{})
	s := &cannedSession{newFakeSession(b, "SNBENCH", cwmp.EventPeriodic)}
	ctx := context.Background()
	b.ReportAllocs()
	for range b.N {
		s.renew()
		if err := e.Run(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
