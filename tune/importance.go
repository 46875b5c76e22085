package tune

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Importance is the share of the objective's variance explained by one
// parameter on its own.
type Importance struct {
	Param string
	Share float64 // in [0, 1]; the shares of a study sum to 1
}

// Importances estimates how much each parameter matters, fANOVA-style: a
// random forest of regression trees is fitted to the complete trials
// (parameters in unit coordinates, choice indices for categoricals, -1
// where inactive), and each parameter's importance is the variance of its
// main effect, the forest's prediction averaged over the other parameters
// as the trials distribute them, as a function of this parameter alone.
// Shares are normalised to sum to 1 and sorted, largest first. Fewer than
// 4 complete trials give no result. seed fixes the forest.
func Importances(s *Space, trials []Trial, seed uint64) []Importance {
	var xs [][]float64
	var ys []float64
	for _, t := range trials {
		if t.State != Complete {
			continue
		}
		x := make([]float64, len(s.params))
		for d, p := range s.params {
			v, ok := t.Params[p.Name]
			switch {
			case !ok:
				x[d] = -1
			case p.Kind == Categorical:
				x[d] = v
			default:
				x[d] = p.ToUnit(v)
			}
		}
		xs, ys = append(xs, x), append(ys, t.Value)
	}
	if len(xs) < 4 {
		return nil
	}
	f := fitForest(xs, ys, 32, newRand(seed))
	out := make([]Importance, len(s.params))
	total := 0.0
	for d, p := range s.params {
		v := mainEffectVariance(f, xs, d)
		out[d] = Importance{Param: p.Name, Share: v}
		total += v
	}
	for d := range out {
		if total > 0 {
			out[d].Share /= total
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Share > out[j].Share })
	return out
}

// mainEffectVariance returns the variance over the distinct values of
// input d (at most 16 quantiles) of the forest's mean prediction with input d
// set to that value in every row.
func mainEffectVariance(f forest, xs [][]float64, d int) float64 {
	vals := make([]float64, len(xs))
	for i, x := range xs {
		vals[i] = x[d]
	}
	sort.Float64s(vals)
	var grid []float64
	for q := range 16 {
		v := vals[q*(len(vals)-1)/15]
		if len(grid) == 0 || grid[len(grid)-1] != v {
			grid = append(grid, v)
		}
	}
	row := make([]float64, len(xs[0]))
	effects := make([]float64, len(grid))
	for g, v := range grid {
		sum := 0.0
		for _, x := range xs {
			copy(row, x)
			row[d] = v
			sum += f.predict(row)
		}
		effects[g] = sum / float64(len(xs))
	}
	return variance(effects)
}

func variance(xs []float64) float64 {
	mean := 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	return v / float64(len(xs))
}

// node is a regression tree node: a leaf when left < 0.
type node struct {
	feature     int
	threshold   float64
	left, right int
	value       float64
}

type tree []node

type forest []tree

func (f forest) predict(x []float64) float64 {
	sum := 0.0
	for _, t := range f {
		i := 0
		for t[i].left >= 0 {
			if x[t[i].feature] <= t[i].threshold {
				i = t[i].left
			} else {
				i = t[i].right
			}
		}
		sum += t[i].value
	}
	return sum / float64(len(f))
}

// fitForest grows n trees, each on a bootstrap sample, trying every input
// at each split (as regression forests usually do) but in random order, so
// ties between equally good splits fall differently per tree.
func fitForest(xs [][]float64, ys []float64, n int, rng *rand.Rand) forest {
	f := make(forest, n)
	for k := range f {
		idx := make([]int, len(xs))
		for i := range idx {
			idx[i] = rng.IntN(len(xs))
		}
		var t tree
		grow(&t, xs, ys, idx, 0, rng)
		f[k] = t
	}
	return f
}

const (
	maxTreeDepth = 12
	minLeaf      = 2
)

// grow appends the subtree fitted to rows idx and returns its index.
func grow(t *tree, xs [][]float64, ys []float64, idx []int, depth int, rng *rand.Rand) int {
	mean := 0.0
	for _, i := range idx {
		mean += ys[i]
	}
	mean /= float64(len(idx))
	at := len(*t)
	*t = append(*t, node{left: -1, right: -1, value: mean})
	if depth >= maxTreeDepth || len(idx) < 2*minLeaf {
		return at
	}
	feature, threshold, ok := bestSplit(xs, ys, idx, rng)
	if !ok {
		return at
	}
	var l, r []int
	for _, i := range idx {
		if xs[i][feature] <= threshold {
			l = append(l, i)
		} else {
			r = append(r, i)
		}
	}
	left := grow(t, xs, ys, l, depth+1, rng)
	right := grow(t, xs, ys, r, depth+1, rng)
	(*t)[at] = node{feature: feature, threshold: threshold, left: left, right: right, value: mean}
	return at
}

// bestSplit returns the split of rows idx that most reduces the squared
// error, leaving minLeaf rows on each side.
func bestSplit(xs [][]float64, ys []float64, idx []int, rng *rand.Rand) (feature int, threshold float64, ok bool) {
	best := math.Inf(-1)
	order := append([]int(nil), idx...)
	for _, d := range rng.Perm(len(xs[0])) {
		sort.Slice(order, func(a, b int) bool { return xs[order[a]][d] < xs[order[b]][d] })
		total := 0.0
		for _, i := range order {
			total += ys[i]
		}
		left := 0.0
		n := len(order)
		for k := 1; k < n; k++ {
			left += ys[order[k-1]]
			lo, hi := xs[order[k-1]][d], xs[order[k]][d]
			if k < minLeaf || n-k < minLeaf || lo == hi {
				continue
			}
			// Maximising this is minimising the children's squared error.
			gain := left*left/float64(k) + (total-left)*(total-left)/float64(n-k)
			if gain > best {
				best, feature, threshold, ok = gain, d, (lo+hi)/2, true
			}
		}
	}
	return feature, threshold, ok
}
