package script

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// secretSize is the length of the key that seeds Math.random per device.
const secretSize = 32

// LoadSecret reads the key that Options.Secret wants from path, creating
// the file with a fresh random key on first use. Keep the file with the
// database: a new key gives every device a new Math.random sequence, so
// scripts that derive values from it derive other values.
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) >= secretSize:
		return b[:secretSize], nil
	case err == nil:
		return nil, fmt.Errorf("script secret %s: %d bytes, want %d", path, len(b), secretSize)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("script secret: %w", err)
	}
	key := make([]byte, secretSize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	// O_EXCL: when two processes start at once, one key wins and both
	// read it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("script secret: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("script secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("script secret: %w", err)
	}
	return key, nil
}
