package tune

import (
	"slices"
	"testing"
)

// history builds a History whose trial i reported reports[i] (step to
// value), all running unless complete lists them.
func history(reports []map[int]float64, complete ...int) History {
	h := History{}
	for i, r := range reports {
		st := Running
		if slices.Contains(complete, i) {
			st = Complete
		}
		h.Trials = append(h.Trials, Trial{Number: i, State: st, Intermediate: r})
	}
	return h
}

// decide appends report (step, value) to trial n of h and asks p.
func decide(p Pruner, h *History, n, step int, value float64) Decision {
	for len(h.Trials) <= n {
		h.Trials = append(h.Trials, Trial{Number: len(h.Trials), State: Running})
	}
	t := &h.Trials[n]
	if t.Intermediate == nil {
		t.Intermediate = map[int]float64{}
	}
	t.Intermediate[step] = value
	return p.Decide(*h, t, step)
}

func TestASHAHandWorked(t *testing.T) {
	// Rungs at steps 1, 3, 9 (MinResource 1, Eta 3).
	a := &ASHA{MinResource: 1, Eta: 3}
	if got := []int{a.Rung(0), a.Rung(1), a.Rung(2)}; !slices.Equal(got, []int{1, 3, 9}) {
		t.Fatalf("rungs = %v, want [1 3 9]", got)
	}
	h := &History{}
	steps := []struct {
		trial, step int
		value       float64
		want        Decision
	}{
		{0, 1, 5, Promote},    // alone at rung 0: best so far
		{1, 1, 7, Stop},       // [5 7]: fewer than 3, only the best goes on
		{2, 1, 3, Promote},    // [3 5 7]: top 3/3 = 1 -> 3 is it
		{3, 1, 4, Stop},       // [3 4 5 7]: top 1 is 3
		{0, 2, 4.8, Continue}, // no rung at step 2
		{0, 3, 4.5, Promote},  // first at rung 1
		{4, 1, 1, Promote},    // [1 3 4 5 7]
		{5, 1, 2, Promote},    // [1 2 3 4 5 7]: top 6/3 = 2 -> values <= 2
		{6, 1, 2.5, Stop},     // [1 2 2.5 3 4 5 7]: top 2 -> <= 2
		{2, 3, 4.6, Stop},     // rung 1: [4.5 4.6]: only the best
		{5, 3, 1, Promote},    // rung 1: [1 4.5 4.6]
	}
	for _, s := range steps {
		if got := decide(a, h, s.trial, s.step, s.value); got != s.want {
			t.Errorf("trial %d step %d value %g: decision %d, want %d", s.trial, s.step, s.value, got, s.want)
		}
	}
}

func TestASHAJumpsSeveralRungsInOneReport(t *testing.T) {
	a := &ASHA{MinResource: 1, Eta: 2} // rungs 1, 2, 4, 8
	h := history([]map[int]float64{{1: 1, 2: 1, 4: 1}, {1: 2, 2: 2, 4: 9}})
	// Trial 2 reports first at step 5: rungs 1, 2 and 4 are all decided now
	// with value 1.5. Rungs 1 and 2: [1 1.5 2] -> top 1 is 1: stopped.
	if got := decide(a, &h, 2, 5, 1.5); got != Stop {
		t.Errorf("decision %d, want Stop", got)
	}
	// Trial 3 at step 5 with 0.5 is best at every rung it passes.
	if got := decide(a, &h, 3, 5, 0.5); got != Promote {
		t.Errorf("decision %d, want Promote", got)
	}
}

func TestHyperbandBrackets(t *testing.T) {
	hb := &Hyperband{MinResource: 1, MaxResource: 9, Eta: 3}
	// 3 brackets with budgets ceil(3*9/3)=9, ceil(3*3/2)=5, ceil(3*1/1)=3.
	want := map[int]int{0: 0, 8: 0, 9: 1, 13: 1, 14: 2, 16: 2, 17: 0, 26: 1}
	for n, b := range want {
		if got := hb.Bracket(n); got != b {
			t.Errorf("Bracket(%d) = %d, want %d", n, got, b)
		}
	}
	h := &History{}
	// Bracket 0 (trials 0-8) halves from step 1, bracket 1 (9-13) from 3.
	if got := decide(hb, h, 0, 1, 5); got != Promote {
		t.Errorf("bracket 0 trial at its first rung: %d, want Promote", got)
	}
	if got := decide(hb, h, 1, 1, 6); got != Stop {
		t.Errorf("bracket 0 second trial, worse: %d, want Stop", got)
	}
	if got := decide(hb, h, 9, 1, 100); got != Continue {
		t.Errorf("bracket 1 trial at step 1 (no rung): %d, want Continue", got)
	}
	// At step 3, trial 9 competes only with bracket 1, where it is alone,
	// although trial 0 of bracket 0 has a better value there.
	decide(hb, h, 0, 3, 1)
	if got := decide(hb, h, 9, 3, 50); got != Promote {
		t.Errorf("bracket 1 trial alone at its rung: %d, want Promote", got)
	}
}

func TestMedianStopping(t *testing.T) {
	m := &MedianStopping{Startup: 3, Warmup: 2}
	h := history([]map[int]float64{
		{1: 10, 2: 8, 3: 6},
		{1: 10, 2: 4, 3: 2},
		{1: 10, 2: 6, 3: 4},
		{1: 1}, // running: not counted
	}, 0, 1, 2)
	cases := []struct {
		trial, step int
		value       float64
		want        Decision
	}{
		{4, 1, 100, Continue}, // warm-up
		{4, 2, 7, Stop},       // median at step 2 of [8 4 6] is 6
		{5, 2, 6, Continue},   // equal to the median
	}
	for _, c := range cases {
		if got := decide(m, &h, c.trial, c.step, c.value); got != c.want {
			t.Errorf("trial %d step %d value %g: %d, want %d", c.trial, c.step, c.value, got, c.want)
		}
	}
	// Trial 5's best by step 3 is 5 (its step-3 value), above the median 4.
	if got := decide(m, &h, 5, 3, 5); got != Stop {
		t.Errorf("trial 5 step 3: %d, want Stop", got)
	}
	// With only two complete trials the rule waits.
	h2 := history([]map[int]float64{{2: 1}, {2: 1}}, 0, 1)
	if got := decide(m, &h2, 2, 2, 100); got != Continue {
		t.Errorf("before startup: %d, want Continue", got)
	}
}
