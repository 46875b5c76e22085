package explain

import (
	"fmt"
	"math"
)

// Method is a quadrature rule for the path integral of integrated
// gradients over alpha in [0, 1].
type Method string

// Quadrature rules. Riemann sums use steps evenly spaced points; the
// trapezoid rule places steps points at 0, 1/(steps-1), ..., 1 with half
// weights at the ends; Gauss-Legendre uses the steps-point Legendre nodes,
// which integrate polynomials of degree 2*steps-1 exactly and so converge
// much faster on smooth models.
const (
	GaussLegendre     Method = "gausslegendre"
	RiemannTrap       Method = "riemann_trapezoid"
	RiemannLeft       Method = "riemann_left"
	RiemannRight      Method = "riemann_right"
	RiemannMiddle     Method = "riemann_middle"
	DefaultMethod            = GaussLegendre
	DefaultSteps             = 50
	minTrapezoidSteps        = 2
)

// Methods lists the accepted method names, default first.
func Methods() []Method {
	return []Method{GaussLegendre, RiemannTrap, RiemannLeft, RiemannRight, RiemannMiddle}
}

// ParseMethod accepts a method name; "riemann" means the trapezoid rule
// and "" the default.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case "":
		return DefaultMethod, nil
	case "riemann", "trapezoid":
		return RiemannTrap, nil
	case GaussLegendre, RiemannTrap, RiemannLeft, RiemannRight, RiemannMiddle:
		return m, nil
	}
	return "", fmt.Errorf("explain: unknown method %q (want gausslegendre, riemann_trapezoid, riemann_left, riemann_right or riemann_middle)", s)
}

// Nodes returns the points alpha in [0, 1] and weights of method with
// steps points; the weights sum to 1. It returns an error for fewer than
// one step (two for the trapezoid rule) or an unknown method.
func Nodes(method Method, steps int) (alphas, weights []float64, err error) {
	if steps < 1 || (method == RiemannTrap && steps < 2) {
		return nil, nil, fmt.Errorf("explain: %d steps is too few for %s", steps, method)
	}
	alphas, weights = make([]float64, steps), make([]float64, steps)
	n := float64(steps)
	switch method {
	case GaussLegendre:
		legendre(alphas, weights)
	case RiemannTrap:
		for i := range alphas {
			alphas[i] = float64(i) / (n - 1)
			weights[i] = 1 / (n - 1)
		}
		weights[0] /= 2
		weights[steps-1] /= 2
	case RiemannLeft, RiemannRight, RiemannMiddle:
		shift := map[Method]float64{RiemannLeft: 0, RiemannRight: 1, RiemannMiddle: 0.5}[method]
		for i := range alphas {
			alphas[i] = (float64(i) + shift) / n
			weights[i] = 1 / n
		}
	default:
		return nil, nil, fmt.Errorf("explain: unknown method %q", method)
	}
	return alphas, weights, nil
}

// legendre fills the Gauss-Legendre nodes and weights for [0, 1]: the
// roots x of the Legendre polynomial P_n, found by Newton's method from
// Tricomi's estimate cos(pi (i+3/4)/(n+1/2)), with weights
// 2/((1-x²) P_n'(x)²), both mapped from [-1, 1].
func legendre(alphas, weights []float64) {
	n := len(alphas)
	for i := range (n + 1) / 2 {
		x := math.Cos(math.Pi * (float64(i) + 0.75) / (float64(n) + 0.5))
		var dp float64
		for range 100 {
			var p float64
			p, dp = legendreAt(n, x)
			dx := p / dp
			x -= dx
			if math.Abs(dx) < 1e-15 {
				break
			}
		}
		_, dp = legendreAt(n, x)
		w := 2 / ((1 - x*x) * dp * dp)
		// x > 0 here: the largest roots come first.
		alphas[n-1-i], weights[n-1-i] = (1+x)/2, w/2
		alphas[i], weights[i] = (1-x)/2, w/2
	}
}

// legendreAt returns P_n(x) and P_n'(x) by the three-term recurrence.
func legendreAt(n int, x float64) (p, dp float64) {
	p0, p1 := 1.0, x
	if n == 0 {
		return 1, 0
	}
	for k := 2; k <= n; k++ {
		p0, p1 = p1, (float64(2*k-1)*x*p1-float64(k-1)*p0)/float64(k)
	}
	return p1, float64(n) * (x*p1 - p0) / (x*x - 1)
}
