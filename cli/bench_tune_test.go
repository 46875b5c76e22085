package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestBenchTuneJSON(t *testing.T) {
	code, out, stderr := runCLI(t, "bench", "tune", "--function", "mixed", "--sampler", "tpe",
		"--trials", "15", "--seeds", "3", "--json")
	if code != exitOK {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	var res tuneBenchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if len(res.Best) != 3 || res.Seeds[2] != 2 || res.Function != "mixed" {
		t.Fatalf("result %+v, want 3 seeds of mixed", res)
	}
	for _, b := range res.Best {
		if b < 0.397887-1e-6 || b > 3.5 {
			t.Errorf("best value %g outside the function's range", b)
		}
	}
	sorted := slices.Clone(res.Best)
	slices.Sort(sorted)
	if res.Median != sorted[1] {
		t.Errorf("median %g of %v, want %g", res.Median, res.Best, sorted[1])
	}
}

func TestBenchTuneBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--function", "sphere"}, `--function: unknown test function "sphere"`},
		{[]string{"--sampler", "bayes"}, `--sampler: unknown sampler "bayes"`},
		{[]string{"--trials", "0"}, "must be at least 1"},
	} {
		code, _, stderr := runCLI(t, append([]string{"bench", "tune"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("bench tune %v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
