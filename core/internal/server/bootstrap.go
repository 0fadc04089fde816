package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrLooseMode: the bootstrap credential file is readable by others. The
// password is returned with it; whether to go on is the caller's call.
var ErrLooseMode = errors.New("bootstrap credential file readable by others")

// BootstrapFile is where a generated shared credential's password is kept,
// under the data directory.
const BootstrapFile = "bootstrap-credential"

// BootstrapPassword returns the shared bootstrap password kept in
// dir/bootstrap-credential, generating it on first use. created tells the
// caller to show it, once: it is never shown again, and the file is
// readable by its owner only.
func BootstrapPassword(dir string) (password string, created bool, err error) {
	path := filepath.Join(dir, BootstrapFile)
	data, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(data))
		if pw == "" {
			return "", false, fmt.Errorf("%s is empty; delete it to generate a new bootstrap password", path)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			return pw, false, fmt.Errorf("%w: %s has mode %v; chmod 600 it", ErrLooseMode, path, st.Mode().Perm())
		}
		return pw, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", false, err
	}
	pw := rand.Text()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, err
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		return "", false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, err
	}
	return pw, true, f.Close()
}
