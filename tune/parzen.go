package tune

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// parzen is a Parzen estimator: a weighted mixture of product kernels over
// some parameters in unit coordinates. Numeric dimensions use normal
// kernels truncated to [0, 1]; categorical dimensions use a distribution
// over choices that favours the observed one. Component 0 is the prior:
// centred, as wide as the space, uniform over choices.
type parzen struct {
	logW  []float64 // log mixture weights, normalised
	cum   []float64 // cumulative mixture weights, for sampling
	dims  []parzenDim
	terms []float64 // logPDF's scratch: one log term per component
}

// parzenDim holds one dimension's kernel of every component.
type parzenDim struct {
	choices   int         // > 0 for a categorical dimension
	mu, sigma []float64   // numeric: per component
	halfCell  float64     // linear Int: half a value's cell; scores are masses
	logZ      []float64   // numeric: log mass of the normal inside [0, 1]
	logP      [][]float64 // categorical: per component; rows are shared, read only
}

// parzenConfig holds the estimator's shape settings, as in Optuna 3.
type parzenConfig struct {
	priorWeight  float64
	multivariate bool // Scott-like bandwidth instead of neighbour gaps
}

// newParzen builds the estimator of obs (n points of len(params) unit
// coordinates or choice indices) with observation weights w.
func newParzen(params []Param, obs [][]float64, w []float64, cfg parzenConfig) *parzen {
	n := len(obs)
	pz := &parzen{logW: make([]float64, n+1), cum: make([]float64, n+1)}
	total := cfg.priorWeight
	for _, x := range w {
		total += x
	}
	acc, logTotal := cfg.priorWeight/total, math.Log(total)
	pz.logW[0], pz.cum[0] = math.Log(acc), acc
	for i, x := range w {
		acc += x / total
		pz.logW[i+1], pz.cum[i+1] = -logTotal, acc
		if x != 1 { // most weights are 1: spare their logarithm
			pz.logW[i+1] = math.Log(x) - logTotal
		}
	}
	for d, p := range params {
		col := make([]float64, n)
		for i := range obs {
			col[i] = obs[i][d]
		}
		if p.Kind == Categorical {
			pz.dims = append(pz.dims, categoricalKernels(len(p.Choices), col, cfg.priorWeight))
		} else {
			d := numericKernels(col, len(params), cfg)
			if p.Kind == Int && !p.Log {
				d.halfCell = 0.5 / float64(p.cells())
			}
			pz.dims = append(pz.dims, d)
		}
	}
	return pz
}

// categoricalKernels returns each component's log distribution over
// choices: priorWeight/(n+1) on every choice plus 1 on the observed one,
// normalised; the prior component is uniform.
func categoricalKernels(k int, col []float64, priorWeight float64) parzenDim {
	d := parzenDim{choices: k, logP: make([][]float64, len(col)+1)}
	uniform := make([]float64, k)
	for j := range uniform {
		uniform[j] = -math.Log(float64(k))
	}
	d.logP[0] = uniform
	base := priorWeight / float64(len(col)+1)
	norm := math.Log(base*float64(k) + 1)
	rows := make([][]float64, k) // components observing the same choice share a row
	for i, c := range col {
		if rows[int(c)] == nil {
			row := make([]float64, k)
			for j := range row {
				row[j] = math.Log(base) - norm
			}
			row[int(c)] = math.Log(base+1) - norm
			rows[int(c)] = row
		}
		d.logP[i+1] = rows[int(c)]
	}
	return d
}

// numericKernels returns truncated normal kernels at col plus the prior
// (mean 0.5, width 1). Univariate bandwidths are the larger gap to a sorted
// neighbour; multivariate ones follow Scott's rule. Both are clipped to
// [1/min(100, n+2), 1] (Optuna's "magic clip").
func numericKernels(col []float64, nDims int, cfg parzenConfig) parzenDim {
	n := len(col)
	d := parzenDim{mu: make([]float64, n+1), sigma: make([]float64, n+1), logZ: make([]float64, n+1)}
	d.mu[0], d.sigma[0] = 0.5, 1
	copy(d.mu[1:], col)
	if cfg.multivariate {
		s := 0.2 * math.Pow(math.Max(float64(n), 1), -1/float64(nDims+4))
		for i := 1; i <= n; i++ {
			d.sigma[i] = s
		}
	} else {
		neighbourGaps(d.mu, d.sigma)
	}
	minSigma := 1 / math.Min(100, float64(n+2))
	for i := 1; i <= n; i++ {
		d.sigma[i] = math.Min(math.Max(d.sigma[i], minSigma), 1)
	}
	for i := range d.mu {
		lo, hi := -d.mu[i]/d.sigma[i], (1-d.mu[i])/d.sigma[i]
		if lo > -8 || hi < 8 { // else the mass outside [0, 1] is under 1e-15
			d.logZ[i] = math.Log(normCDF(hi) - normCDF(lo))
		}
	}
	return d
}

// neighbourGaps sets sigma[i] for i >= 1 to the larger distance from mu[i]
// to its neighbours in the sorted set of all mu (prior included), with 0
// and 1 as outer neighbours; when there are at least two points the
// smallest and largest use their inner neighbour only (Optuna 3's rule).
func neighbourGaps(mu, sigma []float64) {
	n := len(mu)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	// By value; equal values in order of observation, the prior last.
	rank := func(i int) int { return (i + n - 1) % n }
	slices.SortFunc(order, func(a, b int) int { return cmp.Or(cmp.Compare(mu[a], mu[b]), cmp.Compare(rank(a), rank(b))) })
	at := func(r int) float64 { // sorted points with endpoints 0 and 1
		switch {
		case r < 0:
			return 0
		case r >= n:
			return 1
		}
		return mu[order[r]]
	}
	for r, i := range order {
		left, right := at(r)-at(r-1), at(r+1)-at(r)
		switch {
		case n >= 2 && r == 0:
			sigma[i] = right
		case n >= 2 && r == n-1:
			sigma[i] = left
		default:
			sigma[i] = math.Max(left, right)
		}
	}
	sigma[0] = 1
}

// sample draws one point.
func (pz *parzen) sample(rng *rand.Rand) []float64 {
	u := rng.Float64()
	c := len(pz.cum) - 1
	for i, x := range pz.cum {
		if u < x {
			c = i
			break
		}
	}
	out := make([]float64, len(pz.dims))
	for d, dim := range pz.dims {
		if dim.choices > 0 {
			out[d] = sampleLog(dim.logP[c], rng)
			continue
		}
		lo, hi := normCDF(-dim.mu[c]/dim.sigma[c]), normCDF((1-dim.mu[c])/dim.sigma[c])
		q := lo + rng.Float64()*(hi-lo)
		x := dim.mu[c] + dim.sigma[c]*math.Sqrt2*math.Erfinv(2*q-1)
		out[d] = math.Min(math.Max(x, 0), 1)
	}
	return out
}

// sampleLog draws an index from a log distribution.
func sampleLog(logP []float64, rng *rand.Rand) float64 {
	u := rng.Float64()
	acc := 0.0
	for j, lp := range logP {
		acc += math.Exp(lp)
		if u < acc {
			return float64(j)
		}
	}
	return float64(len(logP) - 1)
}

// logPDF returns the log of the mixture's score at x, which TPE compares
// between l and g. As in Optuna 3.1, each kernel is the truncated normal
// density of the standardised variable, that is without its 1/sigma
// factor, and without the constant 1/sqrt(2 pi): in effect every component
// is weighted by its bandwidth, which makes TPE favour points backed by
// wide, isolated kernels and explore more than the normalised density
// would; in our benchmarks it also finds better optima. A linear integer
// dimension scores, like Optuna, the kernel's mass over the value's cell.
func (pz *parzen) logPDF(x []float64) float64 {
	if pz.terms == nil {
		pz.terms = make([]float64, len(pz.logW))
	}
	terms := pz.terms
	copy(terms, pz.logW)
	for d, dim := range pz.dims {
		if dim.choices > 0 {
			j := int(x[d])
			for c := range terms {
				terms[c] += dim.logP[c][j]
			}
			continue
		}
		if dim.halfCell > 0 {
			lo, hi := math.Max(x[d]-dim.halfCell, 0), math.Min(x[d]+dim.halfCell, 1)
			for c := range terms {
				if math.Abs(x[d]-dim.mu[c])-dim.halfCell > 8*dim.sigma[c] {
					terms[c] = math.Inf(-1) // mass below 1e-15: skip the erfc
					continue
				}
				m := normCDF((hi-dim.mu[c])/dim.sigma[c]) - normCDF((lo-dim.mu[c])/dim.sigma[c])
				terms[c] += math.Log(m) - dim.logZ[c]
			}
			continue
		}
		for c := range terms {
			z := (x[d] - dim.mu[c]) / dim.sigma[c]
			terms[c] += -0.5*z*z - dim.logZ[c]
		}
	}
	return logSumExp(terms)
}

// logSumExp returns log(sum(exp(x))) without overflow. Terms more than 40
// below the largest add under 1e-17 relative and are skipped, which saves
// most exponentials when kernels are narrow.
func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, v := range x {
		if v-m > -40 {
			s += math.Exp(v - m)
		}
	}
	return m + math.Log(s)
}

// normCDF is the standard normal distribution function.
func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
