//go:build race

package interactive_test

// raceEnabled: the race detector slows every byte copied several times
// over; tests that move hundreds of MB scale down under it.
const raceEnabled = true
