package tune

import (
	"math"
	"math/rand/v2"
	"slices"
)

// TPE is the Tree-structured Parzen Estimator sampler (Bergstra et al.,
// 2011) with Optuna 3.1's defaults. After Startup random trials it splits
// the finished trials into the best gamma(n) = min(ceil(n/10), 25) and the
// rest, fits a Parzen estimator l to the best and g to the rest, draws
// Candidates points from l and keeps the one maximising l(x)/g(x), which
// maximises expected improvement under the TPE model. Older observations
// get less weight once there are more than 25. Univariate kernels are as
// wide as the larger gap to a neighbouring observation, clipped to
// [1/min(100, n+2), 1] of the range ("magic clip"); a prior component,
// centred and as wide as the range, has weight PriorWeight.
//
// Univariate (the default) models each parameter on its own. Multivariate
// models jointly the numeric parameters that exist under the same
// condition (the unconditional ones, and each conditional group), which
// captures interactions; categorical parameters stay univariate. Joint
// kernels have Scott's-rule width 0.2 n^(-1/(d+4)) of the range, as in
// Optuna; with Refine > 0 they switch to the univariate gap widths once
// Refine*d trials have finished, so that the search narrows as evidence
// accumulates instead of keeping the wide early kernels.
//
// ConstantLiar counts running trials as the worst results, so parallel
// workers do not all propose the same region. TPE never proposes a point
// some trial already has (see AllowDuplicates).
type TPE struct {
	Seed         uint64
	Startup      int     // random trials first; 0 means 10
	Candidates   int     // draws from l per sample; 0 means 24
	PriorWeight  float64 // weight of the prior component; 0 means 1
	Multivariate bool
	Refine       int // with Multivariate: trials per dimension before gap widths; 0 means never
	ConstantLiar bool
	// AllowDuplicates lets TPE propose a point some trial already has. By
	// default such a proposal, which happens when every active parameter
	// is discrete and the model has settled on one configuration, is
	// answered from the record: with a deterministic objective a repeat
	// teaches nothing, so the model counts it as one more trial of that
	// point with the worst value and proposes again (up to 16 times, then
	// uniform random points until one is new). The model thus moves on as
	// it would after a bad result, which is how TPE leaves a branch of a
	// conditional space that looked best early, without spending a trial;
	// replacing repeats by random points instead turns a settled TPE into
	// random search.
	AllowDuplicates bool
	rng             *rand.Rand
}

var _ Sampler = (*TPE)(nil)

func (s *TPE) init() {
	if s.rng == nil {
		s.rng = newRand(s.Seed)
	}
	if s.Startup == 0 {
		s.Startup = 10
	}
	if s.Candidates == 0 {
		s.Candidates = 24
	}
	if s.PriorWeight == 0 {
		s.PriorWeight = 1
	}
}

// observations returns the trials TPE learns from, best first (the rank
// order of keyOf), and how many of them are finished (not liars).
func (s *TPE) observations(h History) (ranked []*Trial, finished int) {
	for i := range h.Trials {
		t := &h.Trials[i]
		switch {
		case t.State == Complete || t.State == Pruned:
			finished++
		case t.State == Running && s.ConstantLiar:
		default:
			continue
		}
		ranked = append(ranked, t)
	}
	slices.SortStableFunc(ranked, func(a, b *Trial) int { return keyOf(a).compare(keyOf(b)) })
	return ranked, finished
}

// Sample proposes the next point.
func (s *TPE) Sample(h History) (Params, error) {
	s.init()
	x, modelled := s.model(h)
	if s.AllowDuplicates || !discrete(h.Space, x) {
		return x, nil
	}
	for range maxRepeats {
		t, seen := evaluated(h, x)
		if !seen || !modelled {
			break
		}
		rep := t.clone()
		rep.Number, rep.State, rep.Value = len(h.Trials), Complete, math.Inf(1)
		h.Trials = append(slices.Clip(h.Trials), rep)
		x, _ = s.model(h)
	}
	for range maxRepeats {
		if _, seen := evaluated(h, x); !seen {
			break
		}
		x = uniformPoint(h.Space, s.rng)
	}
	return x, nil
}

// maxRepeats bounds the proposals Sample makes for one trial while they
// repeat trials, and then the uniform points it draws instead.
const maxRepeats = 16

// model returns the point the model proposes, or a uniform random point
// and false during the startup trials.
func (s *TPE) model(h History) (Params, bool) {
	ranked, finished := s.observations(h)
	if finished < s.Startup {
		return uniformPoint(h.Space, s.rng), false
	}
	nBelow := min(int(math.Ceil(0.1*float64(finished))), 25)
	below, above := byAge(ranked[:nBelow]), byAge(ranked[nBelow:])
	proposed := Params{}
	x := h.Space.build(func(p Param) float64 {
		if v, ok := proposed[p.Name]; ok {
			return v
		}
		group := []Param{p}
		if s.Multivariate && p.Kind != Categorical {
			group = numericGroup(h.Space, p)
		}
		scott := len(group) > 1 && (s.Refine <= 0 || finished < s.Refine*len(group))
		for name, v := range s.propose(group, below, above, parzenConfig{multivariate: scott}) {
			proposed[name] = v
		}
		return proposed[p.Name]
	})
	return x, true
}

// numericGroup returns the numeric parameters that exist under the same
// condition as p (the unconditional ones when p has no parent), in order.
func numericGroup(s *Space, p Param) []Param {
	var out []Param
	for _, q := range s.params {
		if q.Kind != Categorical && q.Parent == p.Parent && slices.Equal(q.When, p.When) {
			out = append(out, q)
		}
	}
	return out
}

// discrete reports whether every parameter set in x is an Int or a
// Categorical, the only case where a proposal can repeat a trial.
func discrete(s *Space, x Params) bool {
	for name := range x {
		if p, _ := s.Param(name); p.Kind == Float {
			return false
		}
	}
	return true
}

// evaluated returns the trial of h that already has exactly the point x.
func evaluated(h History, x Params) (*Trial, bool) {
	key := pointKey(h.Space, x)
	for i := range h.Trials {
		if len(h.Trials[i].Params) == len(x) && pointKey(h.Space, h.Trials[i].Params) == key {
			return &h.Trials[i], true
		}
	}
	return nil, false
}

// propose fits l to the trials of below and g to those of above (both
// oldest first) that set all of params, and returns the best of the
// candidates drawn from l.
func (s *TPE) propose(params []Param, below, above []*Trial, cfg parzenConfig) Params {
	cfg.priorWeight = s.PriorWeight
	l := s.estimator(params, below, cfg)
	g := s.estimator(params, above, cfg)
	var best []float64
	bestScore := math.Inf(-1)
	for range s.Candidates {
		x := snap(params, l.sample(s.rng))
		if score := l.logPDF(x) - g.logPDF(x); score > bestScore || best == nil {
			best, bestScore = x, score
		}
	}
	out := make(Params, len(params))
	for d, p := range params {
		out[p.Name] = toValue(p, best[d])
	}
	return out
}

// byAge returns a copy of trials ordered by number, oldest first.
func byAge(trials []*Trial) []*Trial {
	out := slices.Clone(trials)
	slices.SortFunc(out, func(a, b *Trial) int { return a.Number - b.Number })
	return out
}

// estimator fits a Parzen estimator to the trials of group (oldest first)
// that set all of params, weighting them by age: with n > 25 the oldest
// n-25 ramp linearly from 1/n up to 1.
func (s *TPE) estimator(params []Param, group []*Trial, cfg parzenConfig) *parzen {
	var set []*Trial
	for _, t := range group {
		if hasAll(t.Params, params) {
			set = append(set, t)
		}
	}
	n := len(set)
	obs := make([][]float64, n)
	w := make([]float64, n)
	ramp := n - 25
	for i, t := range set {
		obs[i] = unitCoords(params, t.Params)
		w[i] = 1
		if i < ramp {
			w[i] = 1/float64(n) + (1-1/float64(n))*float64(i)/float64(max(ramp-1, 1))
		}
	}
	return newParzen(params, obs, w, cfg)
}

// hasAll reports whether x sets every parameter in params.
func hasAll(x Params, params []Param) bool {
	for _, p := range params {
		if _, ok := x[p.Name]; !ok {
			return false
		}
	}
	return true
}

// unitCoords returns x's coordinates for params: the unit coordinate of a
// numeric parameter, the choice index of a categorical one.
func unitCoords(params []Param, x Params) []float64 {
	out := make([]float64, len(params))
	for d, p := range params {
		if p.Kind == Categorical {
			out[d] = x[p.Name]
		} else {
			out[d] = p.ToUnit(x[p.Name])
		}
	}
	return out
}

// snap moves the numeric coordinates of u to the unit coordinate of the
// value they map to, so integers are evaluated at their cell centres.
func snap(params []Param, u []float64) []float64 {
	for d, p := range params {
		if p.Kind == Int {
			u[d] = p.ToUnit(p.FromUnit(u[d]))
		}
	}
	return u
}

// toValue maps a coordinate produced by unitCoords back to a value.
func toValue(p Param, c float64) float64 {
	if p.Kind == Categorical {
		return c
	}
	return p.FromUnit(c)
}
