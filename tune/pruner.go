package tune

import (
	"math"
	"sort"
)

// ASHA is asynchronous successive halving (Li et al., 2020) as a stopping
// rule. Rung k sits at step MinResource * Eta^(MinEarlyStoppingRate+k).
// When a trial first reports at or past a rung, its value there is compared
// with the values of every trial that reached that rung so far: it is
// promoted to the next rung if it ranks within the best 1/Eta of them
// (when fewer than Eta trials have reached the rung, only if it is the
// best), and stopped otherwise. Nothing waits for a full rung, so workers
// never idle. The zero value uses MinResource 1 and Eta 3.
type ASHA struct {
	MinResource          int
	Eta                  int
	MinEarlyStoppingRate int
	// bracket, when not nil, limits the competitors to trials for which it
	// returns the same value as for the trial decided (Hyperband's brackets).
	bracket func(number int) int
}

var (
	_ Pruner = (*ASHA)(nil)
	_ Pruner = (*Hyperband)(nil)
	_ Pruner = (*MedianStopping)(nil)
)

func (a *ASHA) params() (r, eta int) {
	r, eta = a.MinResource, a.Eta
	if r <= 0 {
		r = 1
	}
	if eta <= 1 {
		eta = 3
	}
	return r, eta
}

// Rung returns the step of rung k.
func (a *ASHA) Rung(k int) int {
	r, eta := a.params()
	return r * int(math.Pow(float64(eta), float64(a.MinEarlyStoppingRate+k)))
}

// rungValue returns t's value at the rung of step rung: the value reported
// at the first step at or past it, and whether there is one.
func rungValue(t *Trial, rung int) (float64, int, bool) {
	first, v := -1, 0.0
	for s, x := range t.Intermediate {
		if s >= rung && (first < 0 || s < first) {
			first, v = s, x
		}
	}
	return v, first, first >= 0
}

// Decide stops, promotes or continues t after its report at step.
func (a *ASHA) Decide(h History, t *Trial, step int) Decision {
	_, eta := a.params()
	d := Continue
	for k := 0; a.Rung(k) <= step; k++ {
		v, first, _ := rungValue(t, a.Rung(k))
		if first != step {
			continue // reached (and passed) this rung at an earlier report
		}
		var competitors []float64
		for i := range h.Trials {
			o := &h.Trials[i]
			if a.bracket != nil && a.bracket(o.Number) != a.bracket(t.Number) {
				continue
			}
			if ov, _, ok := rungValue(o, a.Rung(k)); ok {
				competitors = append(competitors, ov)
			}
		}
		if !promotable(v, competitors, eta) {
			return Stop
		}
		d = Promote
	}
	return d
}

// promotable reports whether v is within the best len(values)/eta of
// values (which include v), or the best when that share is empty.
func promotable(v float64, values []float64, eta int) bool {
	sort.Float64s(values)
	i := len(values)/eta - 1
	if i < 0 {
		i = 0
	}
	return v <= values[i]
}

// Hyperband runs several ASHA brackets at once (Li et al., 2018): bracket b
// starts halving at rung MinResource*Eta^b, so low brackets stop trials
// early and aggressively while high ones give every trial a long run,
// hedging against objectives whose early values mislead. There are
// floor(log_Eta(MaxResource/MinResource))+1 brackets; trial n joins a bracket
// chosen by n in proportion to the brackets' budgets
// ceil(B*Eta^s/(s+1)), s = B-1-b, and competes only within it. The zero
// values of MinResource and Eta mean 1 and 3; MaxResource is required.
type Hyperband struct {
	MinResource int
	MaxResource int
	Eta         int
}

// brackets returns the number of brackets and their cumulative budgets.
func (hb *Hyperband) brackets() (asha ASHA, cum []int) {
	asha = ASHA{MinResource: hb.MinResource, Eta: hb.Eta}
	r, eta := asha.params()
	n := int(math.Floor(math.Log(float64(max(hb.MaxResource, r))/float64(r))/math.Log(float64(eta))+1e-9)) + 1
	total := 0
	for b := range n {
		s := n - 1 - b
		total += int(math.Ceil(float64(n) * math.Pow(float64(eta), float64(s)) / float64(s+1)))
		cum = append(cum, total)
	}
	return asha, cum
}

// Bracket returns the bracket of trial number.
func (hb *Hyperband) Bracket(number int) int {
	_, cum := hb.brackets()
	x := number % cum[len(cum)-1]
	for b, c := range cum {
		if x < c {
			return b
		}
	}
	return len(cum) - 1
}

// Decide applies the ASHA rule of t's bracket.
func (hb *Hyperband) Decide(h History, t *Trial, step int) Decision {
	asha, _ := hb.brackets()
	asha.MinEarlyStoppingRate = hb.Bracket(t.Number)
	asha.bracket = hb.Bracket
	return asha.Decide(h, t, step)
}

// MedianStopping stops a trial whose best value so far is worse than the median of
// the complete trials' values at the same step (Golovin et al., 2017). It
// decides only once Startup trials are complete, from step Warmup on, and
// every Interval steps. The zero value uses Startup 5, Warmup 0, Interval 1.
type MedianStopping struct {
	Startup  int
	Warmup   int
	Interval int
}

// Decide stops or continues t.
func (m *MedianStopping) Decide(h History, t *Trial, step int) Decision {
	startup, interval := m.Startup, max(m.Interval, 1)
	if startup == 0 {
		startup = 5
	}
	if step < m.Warmup || (step-m.Warmup)%interval != 0 {
		return Continue
	}
	complete := 0
	var others []float64
	for i := range h.Trials {
		o := &h.Trials[i]
		if o.State != Complete {
			continue
		}
		complete++
		if v, ok := o.Intermediate[step]; ok {
			others = append(others, v)
		}
	}
	if complete < startup || len(others) == 0 {
		return Continue
	}
	best := math.Inf(1)
	for s, v := range t.Intermediate {
		if s <= step {
			best = math.Min(best, v)
		}
	}
	if best > MedianOf(others) {
		return Stop
	}
	return Continue
}

// MedianOf returns the median of xs (the mean of the middle two for an even
// count, NaN for none) without modifying xs.
func MedianOf(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	switch {
	case n == 0:
		return math.NaN()
	case n%2 == 1:
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
