package tune

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// newRand returns the generator every sampler draws from, fixed by seed.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6d6c656e76)) // "mlenv"
}

// uniformPoint returns a point with every active parameter drawn uniformly
// in its unit coordinate.
func uniformPoint(s *Space, rng *rand.Rand) Params {
	return s.build(func(p Param) float64 { return p.FromUnit(rng.Float64()) })
}

// Random samples every parameter independently and uniformly (in log space
// for log parameters). The zero value uses seed 0.
type Random struct {
	Seed uint64
	rng  *rand.Rand
}

var (
	_ Sampler = (*Random)(nil)
	_ Sampler = (*Grid)(nil)
)

// Sample returns a uniform random point.
func (r *Random) Sample(h History) (Params, error) {
	if r.rng == nil {
		r.rng = newRand(r.Seed)
	}
	return uniformPoint(h.Space, r.rng), nil
}

// Grid enumerates the Cartesian product of every parameter's values,
// following conditions: a conditional parameter is varied only under the
// parent values that activate it. Categorical parameters take every choice;
// Float parameters, and Int parameters with more values than Points, take
// Points evenly spaced values (in log space for log parameters). Each Sample
// returns the first grid point not yet in the study, so grids resume; once
// all are taken it returns ErrExhausted.
type Grid struct {
	Points int // values per numeric parameter; 0 means 5
	points []Params
}

// values returns the grid values of p.
func (g *Grid) values(p Param) []float64 {
	k := g.Points
	if k <= 0 {
		k = 5
	}
	if n := p.cells(); n > 0 && (p.Kind == Categorical || n <= k) {
		out := make([]float64, n)
		for i := range out {
			out[i] = p.FromUnit((float64(i) + 0.5) / float64(n))
		}
		return out
	}
	if k == 1 {
		return []float64{p.FromUnit(0.5)}
	}
	var out []float64
	for i := range k {
		v := p.FromUnit(float64(i) / float64(k-1))
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// Enumerate returns every grid point of s in order: the first parameter
// varies slowest.
func (g *Grid) Enumerate(s *Space) []Params {
	var out []Params
	var walk func(i int, cur Params)
	walk = func(i int, cur Params) {
		if i == len(s.params) {
			out = append(out, cur.clone())
			return
		}
		p := s.params[i]
		if !s.active(p, cur) {
			walk(i+1, cur)
			return
		}
		for _, v := range g.values(p) {
			cur[p.Name] = v
			walk(i+1, cur)
		}
		delete(cur, p.Name)
	}
	walk(0, Params{})
	return out
}

// Sample returns the first grid point that no trial has used.
func (g *Grid) Sample(h History) (Params, error) {
	if g.points == nil {
		g.points = g.Enumerate(h.Space)
	}
	used := make(map[string]bool, len(h.Trials))
	for _, t := range h.Trials {
		used[pointKey(h.Space, t.Params)] = true
	}
	for _, p := range g.points {
		if !used[pointKey(h.Space, p)] {
			return p.clone(), nil
		}
	}
	return nil, fmt.Errorf("grid of %d points: %w", len(g.points), ErrExhausted)
}

// pointKey identifies a point by its parameter values in space order.
func pointKey(s *Space, x Params) string {
	var b strings.Builder
	for _, p := range s.params {
		if v, ok := x[p.Name]; ok {
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		b.WriteByte('|')
	}
	return b.String()
}

// samplers maps the sampler names used by job specs and the CLI to
// constructors taking a seed.
var samplers = map[string]func(seed uint64) Sampler{
	"random": func(seed uint64) Sampler { return &Random{Seed: seed} },
	"grid":   func(uint64) Sampler { return &Grid{} },
	"sobol":  func(seed uint64) Sampler { return &Sobol{Seed: seed} },
	"tpe":    func(seed uint64) Sampler { return &TPE{Seed: seed} },
	"gp":     func(seed uint64) Sampler { return &GP{Seed: seed} },
	"tpe-multivariate": func(seed uint64) Sampler {
		return &TPE{Seed: seed, Multivariate: true}
	},
	// TPE's best settings on the benchmark of bench/tune.
	"tpe-tuned": func(seed uint64) Sampler {
		return &TPE{Seed: seed, Multivariate: true, Refine: 6, Startup: 7}
	},
}

// SamplerNames returns the names NewSampler accepts, sorted.
func SamplerNames() []string {
	out := make([]string, 0, len(samplers))
	for name := range samplers {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// NewSampler returns the sampler called name with default settings, seeded
// by seed.
func NewSampler(name string, seed uint64) (Sampler, error) {
	newS, ok := samplers[name]
	if !ok {
		return nil, fmt.Errorf("unknown sampler %q (have %s)", name, strings.Join(SamplerNames(), ", "))
	}
	return newS(seed), nil
}
