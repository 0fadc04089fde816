package script

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkNewRuntime is what pooling saves: a runtime made from scratch
// for a bundle of one 200-line script (compiled once, as always).
func BenchmarkNewRuntime(b *testing.B) {
	var src strings.Builder
	src.WriteString("const provisor = require(\"provisor\");\n")
	for i := range 66 {
		fmt.Fprintf(&src, "function helper%d(s, x) {\n  return s.device.get(\"Device.DeviceInfo.UpTime\") + x * %d;\n}\n", i, i)
	}
	src.WriteString("provisor.on(\"2 PERIODIC\", (s) => helper1(s, 1));\n")
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.js"), []byte(src.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	e := New(Options{Dir: dir, PollInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	bundle, err := e.Load()
	if err != nil || len(bundle.Errors) > 0 {
		b.Fatal(err, bundle.Errors)
	}
	b.ReportAllocs()
	for range b.N {
		v, err := newVM(bundle, false)
		if err != nil {
			b.Fatal(err)
		}
		v.close()
	}
}
