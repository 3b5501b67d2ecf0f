//go:build !race

package interactive_test

// raceEnabled: see race_test.go.
const raceEnabled = false
