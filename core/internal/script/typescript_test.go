package script_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// typesDir holds provisor.d.ts and, in check/, a pinned TypeScript with the
// configuration that type-checks the bundled scripts.
const typesDir = "../../../scripts/types"

// tsc returns the TypeScript compiler of scripts/types/check, installing
// it with npm ci under CI. Elsewhere the test is skipped without it.
func tsc(t *testing.T) string {
	t.Helper()
	check := filepath.Join(typesDir, "check")
	bin := filepath.Join(check, "node_modules", ".bin", "tsc")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not available; the typings are not checked")
	}
	if os.Getenv("CI") == "" {
		t.Skip("TypeScript not installed: run 'npm ci' in scripts/types/check (CI does it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = check
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return bin
}

func runTSC(t *testing.T, bin, project string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-p", project)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestTypeScriptDefinitions type-checks the bundled scripts against
// provisor.d.ts, and makes sure that the check does catch a misuse.
func TestTypeScriptDefinitions(t *testing.T) {
	bin := tsc(t)
	if out, err := runTSC(t, bin, filepath.Join(typesDir, "check")); err != nil {
		t.Fatalf("the bundled scripts do not type-check: %v\n%s", err, out)
	}

	dts, err := filepath.Abs(filepath.Join(typesDir, "provisor.d.ts"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"tsconfig.json": `{"compilerOptions": {"target": "es2020", "lib": ["es2020"], "module": "commonjs", "allowJs": true, "checkJs": true,
			"noEmit": true, "strict": true, "noImplicitAny": false, "types": []}, "files": [` + quoteJSON(dts) + `, "bad.js"]}`,
		"bad.js": `const provisor = require("provisor");
provisor.on("1 BOOT", (s) => { s.device.sett({}); });
provisor.on("transferComplete", (s, tc) => tc.faultcode);
provisor.on("2 PERIODIC", (s) => s.device.download({url: "http://x"}));
`,
	})
	out, err := runTSC(t, bin, dir)
	if err == nil {
		t.Fatal("a script misusing the API type-checks")
	}
	for _, want := range []string{"Property 'sett' does not exist", "Property 'faultcode' does not exist", "Property 'fileType' is missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("tsc did not report %q:\n%s", want, out)
		}
	}
}

func quoteJSON(s string) string {
	b, _ := jsonMarshal(s)
	return string(b)
}
