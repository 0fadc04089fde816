//go:build race

package nbi

const raceEnabled = true
