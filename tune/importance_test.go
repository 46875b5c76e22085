package tune

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestImportancesRankParametersByEffect(t *testing.T) {
	space, err := NewSpace(Uniform("strong", 0, 1), Uniform("weak", 0, 1), Uniform("none", 0, 1), Choice("cat", "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	study, err := Open(ctx, Config{Space: space, Sampler: &Random{Seed: 4}})
	if err != nil {
		t.Fatal(err)
	}
	obj := func(_ context.Context, r *Run) (float64, error) {
		v := 10*math.Sin(3*r.Float("strong")) + 2*r.Float("weak")
		if r.Choice("cat") == "b" {
			v += 4
		}
		return v, nil
	}
	if err := study.Optimize(ctx, obj, 200, 1); err != nil {
		t.Fatal(err)
	}
	imp := Importances(space, study.Trials(), 1)
	order := []string{"strong", "cat", "weak", "none"}
	sum := 0.0
	for i, p := range imp {
		sum += p.Share
		if p.Param != order[i] {
			t.Errorf("rank %d: %s (%.3f), want %s; all %v", i, p.Param, p.Share, order[i], imp)
		}
	}
	if math.Abs(sum-1) > 1e-9 || imp[0].Share < 0.6 || imp[3].Share > 0.05 {
		t.Errorf("shares %v: want strong > 0.6, none < 0.05, sum 1", imp)
	}
	if Importances(space, study.Trials()[:3], 1) != nil {
		t.Error("importances from 3 trials, want none")
	}
}

func TestWriteReport(t *testing.T) {
	space, err := NewSpace(Choice("kind", "a", "b"), Uniform("x", 0, 1).If("kind", "a"))
	if err != nil {
		t.Fatal(err)
	}
	trials := []Trial{
		{Number: 0, State: Complete, Params: Params{"kind": 1}, Value: 3},
		{Number: 1, State: Complete, Params: Params{"kind": 0, "x": 0.25}, Value: 1},
		{Number: 2, State: Failed, Params: Params{"kind": 1}},
	}
	var b strings.Builder
	if err := WriteReport(&b, space, trials, false, 5); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"trials: 3 (2 complete, 1 failed)",
		"best: trial 1, value 1",
		"1     1      1      a     0.25",
		"2     0      3      b     -",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
