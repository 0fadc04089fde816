//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlite

import "os"

// lockFile is a no-op where flock is unavailable: a second process on the
// same database is then not detected.
func lockFile(string) (*os.File, error) { return nil, nil }

func unlockFile(*os.File) {}
