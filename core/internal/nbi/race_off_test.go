//go:build !race

package nbi

const raceEnabled = false
