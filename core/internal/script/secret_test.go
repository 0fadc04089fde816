package script_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/provisor/provisor/core/internal/script"
)

func TestLoadSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "script.secret")
	a, err := script.LoadSecret(path)
	if err != nil || len(a) != 32 {
		t.Fatalf("%x %v", a, err)
	}
	b, err := script.LoadSecret(path)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second load: %x %v", b, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := script.LoadSecret(path); err == nil {
		t.Fatal("short secret accepted")
	}
}
