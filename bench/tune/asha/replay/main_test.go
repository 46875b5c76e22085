package main

import (
	"testing"

	"github.com/mlenv/mlenv/tune"
)

// TestASHAReplay replays four recorded curves (maximised, rungs at steps
// 1, 3 and 9 with eta 3) and checks which trials the pruner lets run: the
// first always (it is the best at every rung), the second and fourth stop
// at step 1 (not the best of fewer than three, then not in the best third
// of four), the third runs to the end.
func TestASHAReplay(t *testing.T) {
	space, err := tune.NewSpace(tune.Uniform("x", 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	curve := func(x float64, values ...float64) recorded {
		return recorded{params: tune.Params{"x": x}, steps: []int{1, 3, 9}, values: values}
	}
	pool := []recorded{
		curve(0.1, 0.5, 0.6, 0.7),
		curve(0.2, 0.4, 0.9, 0.95),
		curve(0.3, 0.8, 0.85, 0.9),
		curve(0.4, 0.45, 0.5, 0.99),
	}
	best, steps, err := asha(space, true, pool, []int{0, 1, 2, 3}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if best != 0.9 || steps != 9+1+9+1 {
		t.Errorf("ASHA best %g after %d steps, want 0.9 after 20", best, steps)
	}
	// In another order the late bloomer (0.4) comes first and runs to the
	// end, and so does the first trial after it, being the better of two:
	// the order decides the cost.
	best, steps, err = asha(space, true, pool, []int{3, 0, 1, 2}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if best != 0.99 || steps != 9+9+1+9 {
		t.Errorf("ASHA best %g after %d steps, want 0.99 after 28", best, steps)
	}
}
