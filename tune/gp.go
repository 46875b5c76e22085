package tune

import (
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// GP is a Bayesian-optimisation sampler: a Gaussian process with a
// Matérn-5/2 kernel and one lengthscale per input dimension (ARD) models the
// objective, and the next point maximises expected improvement.
//
// Inputs are unit coordinates (log parameters through their logarithm,
// integers at cell centres and rounded when proposed); a categorical
// parameter becomes one-hot inputs. Outputs are standardised. Kernel
// hyperparameters maximise the marginal likelihood (with weak log-normal
// priors) by L-BFGS from the previous optimum and Restarts random starts.
// Expected improvement is maximised over random and local candidates, the
// best few refined by Nelder-Mead. Conditional parameters, which the GP
// does not model, are drawn at random. In parallel studies running trials
// are not modelled, so use TPE with ConstantLiar for wide parallelism.
type GP struct {
	Seed       uint64
	Startup    int // random trials first; 0 means 10
	Candidates int // random EI candidates; 0 means 1000
	Restarts   int // extra random starts of the hyperparameter fit; 0 means 2
	rng        *rand.Rand
	theta      []float64 // last fitted hyperparameters, the next fit's warm start
}

var _ Sampler = (*GP)(nil)

// Sample proposes the next point.
func (g *GP) Sample(h History) (Params, error) {
	if g.rng == nil {
		g.rng = newRand(g.Seed)
	}
	if g.Startup == 0 {
		g.Startup = 10
	}
	if g.Candidates == 0 {
		g.Candidates = 1000
	}
	if g.Restarts == 0 {
		g.Restarts = 2
	}
	enc := newEncoding(h.Space)
	var xs [][]float64
	var ys []float64
	for _, t := range h.Trials {
		if t.State == Complete {
			xs = append(xs, enc.encode(t.Params))
			ys = append(ys, t.Value)
		}
	}
	if len(xs) < g.Startup || len(enc.params) == 0 {
		return uniformPoint(h.Space, g.rng), nil
	}
	gp := g.fit(xs, standardise(ys))
	best := enc.decode(g.maximiseEI(gp, enc))
	return h.Space.build(func(p Param) float64 {
		if v, ok := best[p.Name]; ok {
			return v
		}
		return p.FromUnit(g.rng.Float64())
	}), nil
}

// standardise returns ys shifted and scaled to mean 0 and deviation 1.
func standardise(ys []float64) []float64 {
	mean := 0.0
	for _, y := range ys {
		mean += y
	}
	mean /= float64(len(ys))
	sd := math.Sqrt(variance(ys))
	if sd == 0 || math.IsNaN(sd) {
		sd = 1
	}
	out := make([]float64, len(ys))
	for i, y := range ys {
		out[i] = (y - mean) / sd
	}
	return out
}

// encoding maps the unconditional parameters of a space to GP inputs.
type encoding struct {
	params []Param
	offset []int // first input of each parameter
	dims   int
}

func newEncoding(s *Space) *encoding {
	e := &encoding{}
	for _, p := range s.params {
		if p.Parent != "" {
			continue
		}
		e.params = append(e.params, p)
		e.offset = append(e.offset, e.dims)
		if p.Kind == Categorical {
			e.dims += len(p.Choices)
		} else {
			e.dims++
		}
	}
	return e
}

func (e *encoding) encode(x Params) []float64 {
	out := make([]float64, e.dims)
	for i, p := range e.params {
		if p.Kind == Categorical {
			out[e.offset[i]+int(x[p.Name])] = 1
		} else {
			out[e.offset[i]] = p.ToUnit(x[p.Name])
		}
	}
	return out
}

// decode maps inputs back to values; a categorical takes its largest input.
func (e *encoding) decode(u []float64) Params {
	out := make(Params, len(e.params))
	for i, p := range e.params {
		o := e.offset[i]
		if p.Kind != Categorical {
			out[p.Name] = p.FromUnit(u[o])
			continue
		}
		best := 0
		for j := range p.Choices {
			if u[o+j] > u[o+best] {
				best = j
			}
		}
		out[p.Name] = float64(best)
	}
	return out
}

// random returns a uniformly random input: numeric coordinates uniform, one
// choice of each categorical set to 1.
func (e *encoding) random(rng *rand.Rand) []float64 {
	u := make([]float64, e.dims)
	for i, p := range e.params {
		if p.Kind == Categorical {
			u[e.offset[i]+rng.IntN(len(p.Choices))] = 1
		} else {
			u[e.offset[i]] = rng.Float64()
		}
	}
	return u
}

// perturb returns a copy of u moved by a normal step of deviation scale in
// numeric coordinates, with each categorical redrawn with probability 0.2.
func (e *encoding) perturb(u []float64, scale float64, rng *rand.Rand) []float64 {
	v := append([]float64(nil), u...)
	for i, p := range e.params {
		o := e.offset[i]
		if p.Kind != Categorical {
			v[o] = math.Min(math.Max(v[o]+scale*rng.NormFloat64(), 0), 1)
		} else if rng.Float64() < 0.2 {
			clear(v[o : o+len(p.Choices)])
			v[o+rng.IntN(len(p.Choices))] = 1
		}
	}
	return v
}

// numeric returns the input indices of numeric parameters.
func (e *encoding) numeric() []int {
	var out []int
	for i, p := range e.params {
		if p.Kind != Categorical {
			out = append(out, e.offset[i])
		}
	}
	return out
}

// gpModel is a fitted GP over inputs xs with standardised outputs.
type gpModel struct {
	xs     [][]float64
	ys     []float64
	ls     []float64 // lengthscales
	signal float64   // kernel variance
	chol   mat.Cholesky
	l      []float64 // the lower Cholesky factor, row-major n x n
	alpha  *mat.VecDense
	best   float64 // lowest standardised output
}

// Hyperparameter vector layout: log lengthscales, log signal variance, log
// noise variance. Priors (log-normal) keep the fit sane with few points.
const (
	priorLogLS, priorLogLSsd         = -0.7, 1.0 // lengthscale around 0.5
	priorLogSignal, priorLogSignalSd = 0, 1.0
	priorLogNoise, priorLogNoiseSd   = -7, 2.0
	minNoise                         = 1e-6
)

// matern52 returns the unit-variance Matérn-5/2 kernel at scaled distance
// r, (1 + √5 r + 5r²/3) e^{-√5 r}, and dk = (5/3)(1 + √5 r) e^{-√5 r}, which
// times z_d² is the kernel's derivative with respect to log lengthscale d.
func matern52(r float64) (k, dk float64) {
	e := math.Exp(-math.Sqrt(5) * r)
	return (1 + math.Sqrt(5)*r + 5*r*r/3) * e, 5.0 / 3 * (1 + math.Sqrt(5)*r) * e
}

// sqDist returns sum_d ((a_d-b_d)/ls_d)².
func sqDist(a, b, ls []float64) float64 {
	s := 0.0
	for d := range a {
		z := (a[d] - b[d]) / ls[d]
		s += z * z
	}
	return s
}

// fit fits the hyperparameters and returns the model: a full fit, from the
// last optimum, the prior's centre and Restarts random starts, for the
// first 40 points and every fifth after; a short refinement of the last
// optimum otherwise.
func (g *GP) fit(xs [][]float64, ys []float64) *gpModel {
	dims := len(xs[0])
	nTheta := dims + 2
	starts := [][]float64{}
	settings := &optimize.Settings{MajorIterations: 60}
	if len(g.theta) == nTheta {
		starts = append(starts, g.theta)
		if len(xs) > 40 && len(xs)%5 != 0 {
			// Between full fits the hyperparameters move little: refine the
			// last optimum briefly.
			settings.MajorIterations = 15
			return g.refit(xs, ys, starts, settings)
		}
	}
	def := make([]float64, nTheta)
	for d := range dims {
		def[d] = priorLogLS
	}
	def[dims], def[dims+1] = priorLogSignal, priorLogNoise
	starts = append(starts, def)
	for range g.Restarts {
		r := make([]float64, nTheta)
		for i := range r {
			r[i] = def[i] + g.rng.NormFloat64()
		}
		starts = append(starts, r)
	}
	return g.refit(xs, ys, starts, settings)
}

// refit maximises the posterior of the hyperparameters from each start,
// keeps the best as the next warm start and returns its model.
func (g *GP) refit(xs [][]float64, ys []float64, starts [][]float64, settings *optimize.Settings) *gpModel {
	problem := optimize.Problem{
		Func: func(th []float64) float64 { return negLogPosterior(xs, ys, th, nil) },
		Grad: func(grad, th []float64) { negLogPosterior(xs, ys, th, grad) },
	}
	best, bestF := starts[0], math.Inf(1)
	for _, th0 := range starts {
		res, err := optimize.Minimize(problem, th0, settings, &optimize.LBFGS{})
		if res == nil {
			continue
		}
		if f := res.F; (err == nil || !math.IsNaN(f)) && f < bestF {
			best, bestF = res.X, f
		}
	}
	g.theta = clampTheta(best)
	return newGPModel(xs, ys, g.theta)
}

// clampTheta keeps hyperparameters in a range where the kernel matrix stays
// well conditioned.
func clampTheta(th []float64) []float64 {
	out := append([]float64(nil), th...)
	for i := range out {
		out[i] = math.Min(math.Max(out[i], -9), 5)
	}
	return out
}

// kernelMatrix returns K + noise I for hyperparameters th.
func kernelMatrix(xs [][]float64, th []float64) *mat.SymDense {
	n, dims := len(xs), len(xs[0])
	ls := make([]float64, dims)
	for d := range ls {
		ls[d] = math.Exp(th[d])
	}
	signal, noise := math.Exp(th[dims]), math.Exp(th[dims+1])+minNoise
	k := mat.NewSymDense(n, nil)
	for i := range n {
		k.SetSym(i, i, signal+noise)
		for j := range i {
			kij, _ := matern52(math.Sqrt(sqDist(xs[i], xs[j], ls)))
			k.SetSym(i, j, signal*kij)
		}
	}
	return k
}

// negLogPosterior returns minus the log marginal likelihood plus minus the
// log prior of th, and its gradient into grad when grad is not nil. A
// kernel matrix that is not positive definite scores +Inf.
func negLogPosterior(xs [][]float64, ys []float64, th, grad []float64) float64 {
	th = clampTheta(th)
	n, dims := len(xs), len(xs[0])
	var chol mat.Cholesky
	if !chol.Factorize(kernelMatrix(xs, th)) {
		for i := range grad {
			grad[i] = 0
		}
		return math.Inf(1)
	}
	y := mat.NewVecDense(n, ys)
	var alpha mat.VecDense
	if err := chol.SolveVecTo(&alpha, y); err != nil {
		return math.Inf(1)
	}
	f := 0.5*mat.Dot(y, &alpha) + 0.5*chol.LogDet() + 0.5*float64(n)*math.Log(2*math.Pi)
	f += logNormalPenalty(th, dims)
	if grad == nil {
		return f
	}
	kinv, err := inverse(&chol)
	if err != nil {
		return math.Inf(1)
	}
	gpGradient(xs, th, &alpha, kinv, grad)
	return f
}

// inverse returns K⁻¹ = L⁻ᵀL⁻¹ from K's Cholesky factor L; this is several
// times faster than Cholesky.InverseTo, which solves against the identity.
func inverse(chol *mat.Cholesky) (*mat.SymDense, error) {
	var l, li mat.TriDense
	chol.LTo(&l)
	if err := li.InverseTri(&l); err != nil {
		return nil, err
	}
	var kinv mat.SymDense
	kinv.SymOuterK(1, li.T())
	return &kinv, nil
}

// gpGradient writes d(-log posterior)/d th into grad using
// d(-LML)/dθ = -½ tr((ααᵀ - K⁻¹) dK/dθ).
func gpGradient(xs [][]float64, th []float64, alpha *mat.VecDense, kinv *mat.SymDense, grad []float64) {
	n, dims := len(xs), len(xs[0])
	ls := make([]float64, dims)
	for d := range ls {
		ls[d] = math.Exp(th[d])
	}
	signal, noise := math.Exp(th[dims]), math.Exp(th[dims+1])
	clear(grad)
	for i := range n {
		wii := alpha.AtVec(i)*alpha.AtVec(i) - kinv.At(i, i)
		grad[dims] += -0.5 * wii * signal
		grad[dims+1] += -0.5 * wii * noise
		for j := range i {
			w := 2 * (alpha.AtVec(i)*alpha.AtVec(j) - kinv.At(i, j)) // both triangles
			k, dk := matern52(math.Sqrt(sqDist(xs[i], xs[j], ls)))
			grad[dims] += -0.5 * w * signal * k
			for d := range dims {
				z := (xs[i][d] - xs[j][d]) / ls[d]
				grad[d] += -0.5 * w * signal * dk * z * z
			}
		}
	}
	for d := range dims {
		grad[d] += (th[d] - priorLogLS) / (priorLogLSsd * priorLogLSsd)
	}
	grad[dims] += (th[dims] - priorLogSignal) / (priorLogSignalSd * priorLogSignalSd)
	grad[dims+1] += (th[dims+1] - priorLogNoise) / (priorLogNoiseSd * priorLogNoiseSd)
}

// logNormalPenalty returns minus the log prior density of th (up to a
// constant).
func logNormalPenalty(th []float64, dims int) float64 {
	sq := func(x, mu, sd float64) float64 { z := (x - mu) / sd; return 0.5 * z * z }
	p := sq(th[dims], priorLogSignal, priorLogSignalSd) + sq(th[dims+1], priorLogNoise, priorLogNoiseSd)
	for d := range dims {
		p += sq(th[d], priorLogLS, priorLogLSsd)
	}
	return p
}

// newGPModel factorises the kernel matrix for prediction.
func newGPModel(xs [][]float64, ys []float64, th []float64) *gpModel {
	dims := len(xs[0])
	m := &gpModel{xs: xs, ys: ys, ls: make([]float64, dims), signal: math.Exp(th[dims]), best: math.Inf(1)}
	for d := range dims {
		m.ls[d] = math.Exp(th[d])
	}
	k := kernelMatrix(xs, th)
	for jitter := 1e-8; !m.chol.Factorize(k); jitter *= 10 {
		for i := range len(xs) {
			k.SetSym(i, i, k.At(i, i)+jitter)
		}
	}
	var l mat.TriDense
	m.chol.LTo(&l)
	n := len(xs)
	m.l = make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			m.l[i*n+j] = l.At(i, j)
		}
	}
	m.alpha = mat.NewVecDense(len(xs), nil)
	if err := m.chol.SolveVecTo(m.alpha, mat.NewVecDense(len(ys), ys)); err != nil {
		panic("tune: GP solve after successful factorisation: " + err.Error())
	}
	for _, y := range ys {
		m.best = math.Min(m.best, y)
	}
	return m
}

// predict returns the posterior mean and standard deviation at x.
func (m *gpModel) predict(x []float64) (mean, sd float64) {
	n := len(m.xs)
	ks := make([]float64, n)
	for i, xi := range m.xs {
		k, _ := matern52(math.Sqrt(sqDist(x, xi, m.ls)))
		ks[i] = m.signal * k
		mean += ks[i] * m.alpha.AtVec(i)
	}
	// Forward substitution v = L⁻¹k in place, so that kᵀK⁻¹k = |v|².
	vv := 0.0
	for i := range n {
		row := m.l[i*n : i*n+i]
		s := ks[i]
		for j, lij := range row {
			s -= lij * ks[j]
		}
		ks[i] = s / m.l[i*n+i]
		vv += ks[i] * ks[i]
	}
	return mean, math.Sqrt(math.Max(m.signal-vv, 1e-12))
}

// expectedImprovement returns E[max(best - f(x), 0)] under the posterior.
func (m *gpModel) expectedImprovement(x []float64) float64 {
	mean, sd := m.predict(x)
	z := (m.best - mean) / sd
	pdf := math.Exp(-0.5*z*z) / math.Sqrt(2*math.Pi)
	return sd * (z*normCDF(z) + pdf)
}

// maximiseEI searches the inputs for the largest expected improvement:
// random candidates, perturbations of the best observed points, then
// Nelder-Mead over the numeric inputs from the three best candidates.
func (g *GP) maximiseEI(m *gpModel, enc *encoding) []float64 {
	type cand struct {
		u  []float64
		ei float64
	}
	var cands []cand
	add := func(u []float64) { cands = append(cands, cand{u, m.expectedImprovement(u)}) }
	for range g.Candidates {
		add(enc.random(g.rng))
	}
	order := make([]int, len(m.xs))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return m.ys[order[a]] < m.ys[order[b]] })
	for _, i := range order[:min(5, len(order))] {
		for _, scale := range []float64{0.01, 0.05, 0.2} {
			for range 20 {
				add(enc.perturb(m.xs[i], scale, g.rng))
			}
		}
	}
	sort.Slice(cands, func(a, b int) bool { return cands[a].ei > cands[b].ei })
	best := cands[0]
	numeric := enc.numeric()
	for _, c := range cands[:min(3, len(cands))] {
		u, ei := refineEI(m, c.u, numeric)
		if ei > best.ei {
			best = cand{u, ei}
		}
	}
	return best.u
}

// refineEI maximises EI over the numeric inputs of u by Nelder-Mead,
// keeping them in [0, 1].
func refineEI(m *gpModel, u []float64, numeric []int) ([]float64, float64) {
	if len(numeric) == 0 {
		return u, m.expectedImprovement(u)
	}
	at := func(z []float64) []float64 {
		v := append([]float64(nil), u...)
		for k, i := range numeric {
			v[i] = math.Min(math.Max(z[k], 0), 1)
		}
		return v
	}
	z0 := make([]float64, len(numeric))
	for k, i := range numeric {
		z0[k] = u[i]
	}
	problem := optimize.Problem{Func: func(z []float64) float64 { return -m.expectedImprovement(at(z)) }}
	nm := &optimize.NelderMead{SimplexSize: 0.05}
	res, err := optimize.Minimize(problem, z0, &optimize.Settings{FuncEvaluations: 200}, nm)
	if res == nil || (err != nil && math.IsNaN(res.F)) {
		return u, m.expectedImprovement(u)
	}
	v := at(res.X)
	return v, m.expectedImprovement(v)
}
