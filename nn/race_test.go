//go:build race

package nn_test

// raceEnabled is true under the race detector, whose instrumentation
// allocates, so allocation counts are meaningless there.
const raceEnabled = true
