package explain

import (
	"fmt"
	"math/rand/v2"

	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// Baseline names how the reference points of integrated gradients are
// chosen.
type Baseline string

// Baselines: the all-zero point (zero dense values and zero embedding
// vectors), the training means (the fitted means of the dense features and
// the mean embedding vectors of the data), or a random sample of data rows
// whose integrated gradients are averaged (expected gradients).
const (
	BaselineZeros  Baseline = "zeros"
	BaselineMean   Baseline = "mean"
	BaselineSample Baseline = "sample"
)

// ParseBaseline accepts a baseline name; "" means zeros.
func ParseBaseline(s string) (Baseline, error) {
	switch b := Baseline(s); b {
	case "":
		return BaselineZeros, nil
	case BaselineZeros, BaselineMean, BaselineSample:
		return b, nil
	}
	return "", fmt.Errorf("explain: unknown baseline %q (want zeros, mean or sample)", s)
}

// Means returns the column means of rows, all of the same width; nil for
// no rows.
func Means(rows [][]float32) []float32 {
	if len(rows) == 0 {
		return nil
	}
	sum := make([]float64, len(rows[0]))
	for _, row := range rows {
		for j, v := range row {
			sum[j] += float64(v)
		}
	}
	out := make([]float32, len(sum))
	for j, s := range sum {
		out[j] = float32(s / float64(len(rows)))
	}
	return out
}

// Sample returns k rows of rows drawn without replacement with the given
// seed (all of them, shuffled, when k >= len(rows)). The rows are shared,
// not copied.
func Sample(rows [][]float32, k int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 0x6578706c61696e))
	perm := rng.Perm(len(rows))
	out := make([][]float32, 0, min(k, len(rows)))
	for _, i := range perm[:min(k, len(rows))] {
		out = append(out, rows[i])
	}
	return out
}

// Freeze stops m's parameters from requiring gradients, so that a Func
// built on m computes gradients for its inputs only (no weight gradients,
// which integrated gradients never reads) and may be called from several
// workers at once. The returned function restores the parameters' state,
// gradients included; m must not be trained until it is called.
func Freeze(m nn.Module) (restore func()) {
	ps := m.Parameters()
	saved := make([]tensor.Tensor, len(ps))
	for i, p := range ps {
		saved[i] = *p.Tensor
		*p.Tensor = *p.Tensor.Detach()
	}
	return func() {
		for i, p := range ps {
			*p.Tensor = saved[i]
		}
	}
}
