package explain

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
)

// Rank is one feature's global importance over a set of examples.
type Rank struct {
	Feature string `json:"feature"`
	// MeanAbs is the mean absolute attribution: the importance.
	MeanAbs float64 `json:"mean_abs"`
	// Mean is the mean signed attribution: its usual direction.
	Mean float64 `json:"mean"`
}

// Importance returns the features of res by decreasing mean absolute
// attribution (ties by name).
func Importance(res *Result) []Rank {
	ranks := make([]Rank, len(res.Features))
	for f, name := range res.Features {
		ranks[f].Feature = name
		for _, a := range res.Attributions {
			ranks[f].MeanAbs += math.Abs(a[f])
			ranks[f].Mean += a[f]
		}
		if n := float64(len(res.Attributions)); n > 0 {
			ranks[f].MeanAbs /= n
			ranks[f].Mean /= n
		}
	}
	slices.SortStableFunc(ranks, func(a, b Rank) int {
		return cmp.Or(cmp.Compare(b.MeanAbs, a.MeanAbs), cmp.Compare(a.Feature, b.Feature))
	})
	return ranks
}

// Report is the JSON form of an explanation: the settings, the ranking
// and the completeness check.
type Report struct {
	Method    Method  `json:"method"`
	Steps     int     `json:"steps"`
	Baseline  string  `json:"baseline"`
	Baselines int     `json:"baselines"`
	Examples  int     `json:"examples"`
	Ranking   []Rank  `json:"ranking"`
	MeanError float64 `json:"completeness_mean_error"`
	MaxError  float64 `json:"completeness_max_error"`
	// Refined counts the examples recomputed with more than Steps steps
	// to meet the completeness tolerance.
	Refined int `json:"refined"`
}

// NewReport summarises res; baseline names the baseline kind and
// baselines counts the reference points used.
func NewReport(res *Result, opt Options, baseline string, baselines int) Report {
	opt = opt.withDefaults()
	r := Report{Method: opt.Method, Steps: opt.Steps, Baseline: baseline, Baselines: baselines,
		Examples: len(res.Attributions), Ranking: Importance(res),
		MeanError: res.MeanError(), MaxError: res.MaxError()}
	for _, s := range res.Steps {
		if s > opt.Steps {
			r.Refined++
		}
	}
	return r
}

// WriteTable prints the ranking as an aligned table followed by the
// completeness check.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rank\tfeature\tmean |attribution|\tmean attribution\t\n")
	for i, k := range r.Ranking {
		fmt.Fprintf(tw, "%d\t%s\t%.6g\t%+.6g\t\n", i+1, k.Feature, k.MeanAbs, k.Mean)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	base := "baseline " + r.Baseline
	if r.Baselines > 1 {
		base = fmt.Sprintf("baseline %s of %d rows (IG averaged)", r.Baseline, r.Baselines)
	}
	_, err := fmt.Fprintf(w, "\n%d examples, %s with %d steps (%d refined with more), %s\ncompleteness error |Σ attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)|: mean %.3g%%, max %.3g%%\n",
		r.Examples, r.Method, r.Steps, r.Refined, base, 100*r.MeanError, 100*r.MaxError)
	return err
}
