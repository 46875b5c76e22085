package tune

import (
	"context"
	"slices"
	"strconv"
	"testing"
)

func TestNumericGroupsFollowConditions(t *testing.T) {
	s := condSpace(t)
	names := func(ps []Param) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	for p, want := range map[string][]string{
		"lr":      {"lr"},
		"layers":  {"layers", "units"},
		"units":   {"layers", "units"},
		"depth":   {"depth"},
		"dropout": {"dropout"},
	} {
		param, _ := s.Param(p)
		if got := names(numericGroup(s, param)); !slices.Equal(got, want) {
			t.Errorf("group of %s = %v, want %v", p, got, want)
		}
	}
}

// distinctPoints runs 30 trials of a 12-point categorical space with a
// deterministic objective and counts the distinct points tried.
func distinctPoints(t *testing.T, allowDuplicates bool) int {
	t.Helper()
	space, err := NewSpace(Choice("a", "0", "1", "2", "3"), Choice("b", "0", "1", "2"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	study, err := Open(ctx, Config{Space: space, Sampler: &TPE{Seed: 7, AllowDuplicates: allowDuplicates}})
	if err != nil {
		t.Fatal(err)
	}
	obj := func(_ context.Context, r *Run) (float64, error) { return r.Float("a") + r.Float("b"), nil }
	if err := study.Optimize(ctx, obj, 30, 1); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tr := range study.Trials() {
		seen[pointKey(space, tr.Params)] = true
	}
	return len(seen)
}

func TestTPEAvoidsRepeatingPoints(t *testing.T) {
	with, without := distinctPoints(t, true), distinctPoints(t, false)
	if without < 11 || without <= with {
		t.Errorf("distinct points of 12 in 30 trials: %d avoiding repeats, %d allowing them", without, with)
	}
}

// TestTPERepeatsGoToTheModel checks that TPE replaces a proposal that
// repeats a trial with the model's next proposal rather than a random
// point: on a 20x20 grid minimising a+b, the points it picks after
// startup stay nearer the best corner (a uniform point averages a+b = 19;
// replacing repeats by uniform points gave 15.8 over these seeds).
func TestTPERepeatsGoToTheModel(t *testing.T) {
	var choices []string
	for i := range 20 {
		choices = append(choices, strconv.Itoa(i))
	}
	space, err := NewSpace(Choice("a", choices...), Choice("b", choices...))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	obj := func(_ context.Context, r *Run) (float64, error) { return r.Float("a") + r.Float("b"), nil }
	sum, n := 0.0, 0
	for seed := range uint64(8) {
		study, err := Open(ctx, Config{Space: space, Sampler: &TPE{Seed: seed}})
		if err != nil {
			t.Fatal(err)
		}
		if err := study.Optimize(ctx, obj, 40, 1); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, tr := range study.Trials() {
			key := pointKey(space, tr.Params)
			if seen[key] {
				t.Fatalf("seed %d: trial %d repeats the point %v", seed, tr.Number, tr.Params)
			}
			seen[key] = true
			if tr.Number >= 20 {
				sum, n = sum+tr.Value, n+1
			}
		}
	}
	if mean := sum / float64(n); mean > 14.9 {
		t.Errorf("mean a+b of trials 20-39 = %.2f, want under 14.9", mean)
	}
}
