// Command replay estimates, from one recorded full-budget study, how ASHA
// compares with random search without early stopping over many draws of
// trials, which a single pair of studies cannot show.
//
//	go run ./bench/tune/asha/replay -study DIR [-n 16] [-m 16] [-min 469] [-eta 3] [-draws 200]
//
// DIR is a study directory (`mlenv tune` keeps it at
// .mlenv/studies/NAME) whose trials all ran to the full budget, reporting
// the metric at every evaluation. The first draw keeps the recorded order
// (that of a real study with the same sampler seed); the others shuffle
// the trials. Random search takes the first n and keeps the best final
// value; ASHA runs the first m through tune's ASHA pruner one at a time,
// each trial reporting its recorded values in step order until the pruner
// stops it. Training is deterministic given a trial's parameters, so this
// is what a real ASHA study of those points with --parallel 1 does.
// Compute is training steps: a trial counts up to its last report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"

	"github.com/mlenv/mlenv/tune"
	"github.com/mlenv/mlenv/tunejob"
)

// options are the command's flags.
type options struct {
	dir          string
	n, m         int // random search's and ASHA's trials
	minR, eta    int
	draws        int
	gap, compute float64 // the bar: ASHA's shortfall and share of steps
	verbose      bool
}

func main() {
	var o options
	flag.StringVar(&o.dir, "study", "", "study directory holding study.json and trials.jsonl")
	flag.IntVar(&o.n, "n", 16, "trials of random search at full budget")
	flag.IntVar(&o.m, "m", 16, "trials of the ASHA study")
	flag.IntVar(&o.minR, "min", 469, "ASHA min_resource in steps")
	flag.IntVar(&o.eta, "eta", 3, "ASHA reduction factor")
	flag.IntVar(&o.draws, "draws", 200, "orderings of the recorded trials")
	flag.Float64Var(&o.gap, "gap", 0.005, "allowed relative shortfall of ASHA's best value")
	flag.Float64Var(&o.compute, "compute", 1.0/3, "allowed share of random search's steps")
	flag.BoolVar(&o.verbose, "v", false, "print every draw")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

// recorded is one full-budget trial: its parameters and reports.
type recorded struct {
	params tune.Params
	steps  []int // ascending
	values []float64
}

func run(o options) error {
	meta, err := tunejob.ReadMeta(o.dir)
	if err != nil {
		return err
	}
	space, err := meta.Space()
	if err != nil {
		return fmt.Errorf("%s: %w", o.dir, err)
	}
	pool, err := load(o.dir)
	if err != nil {
		return err
	}
	if o.n > len(pool) || o.m > len(pool) {
		return fmt.Errorf("%s holds %d complete trials, fewer than -n %d or -m %d", o.dir, len(pool), o.n, o.m)
	}
	var gaps, shares []float64
	met, close, cheap := 0, 0, 0
	for d := range o.draws {
		order := rand.New(rand.NewPCG(uint64(d), 1)).Perm(len(pool))
		if d == 0 {
			slices.Sort(order) // the recorded order: the real studies' points
		}
		gap, share, err := compare(space, meta.Maximize, pool, order, o)
		if err != nil {
			return err
		}
		gaps, shares = append(gaps, gap), append(shares, share)
		if gap <= o.gap {
			close++
		}
		if share <= o.compute {
			cheap++
		}
		if gap <= o.gap && share <= o.compute {
			met++
		}
		if o.verbose {
			fmt.Printf("draw %3d  ASHA %.2f%% below random search at %.3f of its steps\n", d, 100*gap, share)
		}
	}
	fmt.Printf("%d draws from %d trials: random search %d trials, ASHA %d trials (min_resource %d, eta %d)\n", o.draws, len(pool), o.n, o.m, o.minR, o.eta)
	fmt.Printf("ASHA best below random's: median %.2f%%, 90th percentile %.2f%%, worst %.2f%%\n",
		100*tune.MedianOf(gaps), 100*quantile(gaps, 0.9), 100*slices.Max(gaps))
	fmt.Printf("ASHA steps / random's: median %.3f, max %.3f\n", tune.MedianOf(shares), slices.Max(shares))
	fmt.Printf("draws within %.1f%%: %d; at <= %.3f of the steps: %d; both: %d of %d\n", 100*o.gap, close, o.compute, cheap, met, o.draws)
	return nil
}

// compare runs random search over the first o.n trials of order and ASHA
// over the first o.m, and returns how far ASHA's best falls short of
// random search's (relative) and its share of random search's steps.
func compare(space *tune.Space, maximize bool, pool []recorded, order []int, o options) (gap, share float64, err error) {
	sign := 1.0 // makes larger better
	if !maximize {
		sign = -1
	}
	full, fullSteps := math.Inf(-1), 0
	for _, i := range order[:o.n] {
		t := pool[i]
		full = math.Max(full, sign*t.values[len(t.values)-1])
		fullSteps += t.steps[len(t.steps)-1]
	}
	best, steps, err := asha(space, maximize, pool, order[:o.m], o.minR, o.eta)
	if err != nil {
		return 0, 0, err
	}
	return (full - sign*best) / math.Abs(full), float64(steps) / float64(fullSteps), nil
}

// load reads the complete trials of the study in dir.
func load(dir string) ([]recorded, error) {
	st, err := tunejob.OpenTrials(dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	trials, err := st.Load(context.Background())
	if err != nil {
		return nil, err
	}
	var out []recorded
	for _, t := range trials {
		if t.State != tune.Complete || len(t.Intermediate) == 0 {
			continue
		}
		r := recorded{params: t.Params}
		for s := range t.Intermediate {
			r.steps = append(r.steps, s)
		}
		sort.Ints(r.steps)
		for _, s := range r.steps {
			r.values = append(r.values, t.Intermediate[s])
		}
		out = append(out, r)
	}
	return out, nil
}

// asha runs the trials pool[order[i]] in order through an ASHA study and
// returns its best value and the steps its trials took.
func asha(space *tune.Space, maximize bool, pool []recorded, order []int, minR, eta int) (float64, int, error) {
	ctx := context.Background()
	study, err := tune.Open(ctx, tune.Config{Space: space, Sampler: &tune.Random{}, Maximize: maximize,
		Pruner: &tune.ASHA{MinResource: minR, Eta: eta}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, 0, err
	}
	for _, i := range order {
		if err := study.Enqueue(pool[i].params); err != nil {
			return 0, 0, err
		}
	}
	steps := 0
	objective := func(_ context.Context, r *tune.Run) (float64, error) {
		t := pool[order[r.Number()]]
		last := len(t.steps) - 1
		for k, s := range t.steps {
			steps += s - prevStep(t.steps, k)
			_, err := r.Report(s, t.values[k])
			if errors.Is(err, tune.ErrPruned) && k < last {
				return t.values[k], err
			}
		}
		return t.values[last], nil
	}
	if err := study.Optimize(ctx, objective, len(order), 1); err != nil {
		return 0, 0, err
	}
	best, ok := study.Best()
	if !ok {
		return 0, 0, errors.New("no ASHA trial completed")
	}
	return best.Value, steps, nil
}

// prevStep returns the step reported before the k-th one (0 for the first).
func prevStep(steps []int, k int) int {
	if k == 0 {
		return 0
	}
	return steps[k-1]
}

// quantile returns the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)]
}
