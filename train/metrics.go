package train

import (
	"cmp"
	"math"
	"slices"
)

// AUC returns the area under the ROC curve of scores against binary labels
// (1 positive, 0 negative): the probability that a random positive scores
// above a random negative, ties counting half. It is NaN when either class
// is missing.
func AUC(scores, labels []float32) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // mean 1-based rank of the tie group
		for _, k := range idx[i:j] {
			if labels[k] > 0.5 {
				pos++
				rankSum += mid
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// LogLoss returns the mean binary cross-entropy of probabilities p against
// labels, with p clipped to [1e-7, 1-1e-7].
func LogLoss(p, labels []float32) float64 {
	var s float64
	for i, q := range p {
		q := min(max(float64(q), 1e-7), 1-1e-7)
		if labels[i] > 0.5 {
			s -= math.Log(q)
		} else {
			s -= math.Log(1 - q)
		}
	}
	return s / float64(len(p))
}

// RecallAtK returns the fraction of queries whose own item (query i's item
// is item i) is among the k items with the highest scores; scores is
// [n, n] row-major, row i holding query i's score for every item.
func RecallAtK(scores []float32, n, k int) float64 {
	if n == 0 {
		return math.NaN()
	}
	hits := 0
	for i := range n {
		row := scores[i*n : (i+1)*n]
		above := 0
		for _, s := range row {
			if s > row[i] {
				above++
			}
		}
		if above < k {
			hits++
		}
	}
	return float64(hits) / float64(n)
}
