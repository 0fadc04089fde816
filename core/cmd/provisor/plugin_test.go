package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPluginCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	dir := t.TempDir()
	pdir := filepath.Join(dir, "minimal")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, _ := filepath.Abs("../../../examples/plugin-minimal")
	cmd := exec.Command("go", "build", "-o", filepath.Join(pdir, "provisor-plugin-minimal"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	manifest, _ := os.ReadFile(filepath.Join(src, "plugin.json"))
	if err := os.WriteFile(filepath.Join(pdir, "plugin.json"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if err := pluginCmd([]string{"list", "-dir", dir}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	if !strings.Contains(out.String(), "minimal") || !strings.Contains(out.String(), "missing") {
		t.Fatalf("list:\n%s", out.String())
	}
	out.Reset()
	if err := pluginCmd([]string{"check", "-dir", dir}, &out, &errOut); err == nil || !strings.Contains(out.String(), "refused") {
		t.Fatalf("check without a checksum: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := pluginCmd([]string{"check", "-dir", dir, "-write-sums"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"recorded sha256", "minimal 1.0.0: running", "capabilities  events", "events        0 BOOTSTRAP"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := pluginCmd([]string{"list", "-dir", dir, "-json"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var rows []listedPlugin
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil || len(rows) != 1 || rows[0].Checksum != "ok" {
		t.Fatalf("list -json: %v %s", err, out.String())
	}
	if err := pluginCmd([]string{"frobnicate"}, &out, &errOut); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}
