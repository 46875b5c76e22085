package data

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
)

// FitOptions controls Fit.
type FitOptions struct {
	// SkipBadRows skips malformed rows instead of failing on the first.
	SkipBadRows bool
	// Seed seeds the reservoir sample from which quantile buckets are fitted.
	Seed uint64
}

// sampleSize is the size of the reservoir sample kept per quantile-bucketed
// feature; quantiles of the sample estimate those of the data.
const sampleSize = 1 << 16

// Fit reads the training source once and fits the transforms of features
// and label: means and deviations, minima and maxima, quantile boundaries,
// vocabularies, the image shape. It returns the number of rows used and
// skipped. With SkipBadRows unset, the first malformed row is an error
// (a *RowError naming its file, row and column).
func Fit(ctx context.Context, src RowSource, features []Feature, label Label, opt FitOptions) (*Transforms, Stats, error) {
	t, err := newTransforms(features, label)
	if err != nil {
		return nil, Stats{}, err
	}
	acc := make([]accumulator, len(t.Features))
	for i := range acc {
		acc[i].rng = rand.New(rand.NewPCG(opt.Seed, uint64(i)))
	}
	var stats Stats
	scratch := t.newExample()
	for rec, err := range src.Records(t.layout.columns) {
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			t.learnShapes(rec)
			// Encoding with unfitted transforms checks every value, so
			// that a bad row is rejected before it is accumulated.
			err = t.Encode(rec, scratch)
		}
		if err != nil {
			if opt.SkipBadRows && IsRowError(err) {
				stats.Skipped++
				continue
			}
			return nil, stats, err
		}
		stats.Rows++
		for i := range t.Features {
			// A feature sharing a vocabulary counts its values in the
			// owner's accumulator.
			acc[t.vocabOwner(i)].add(&t.Features[i], rec.Fields[t.layout.column[i]])
		}
	}
	for i := range t.Features {
		if t.Features[i].VocabFrom == "" {
			acc[i].finish(&t.Features[i])
		}
	}
	for i := range t.Features {
		if ft := &t.Features[i]; ft.VocabFrom != "" {
			owner := t.Features[t.vocabOwner(i)]
			ft.Vocab, ft.Vocabulary = owner.Vocab, owner.Vocabulary
		}
	}
	// Index the fitted vocabularies.
	if err := t.init(); err != nil {
		return nil, stats, err
	}
	return t, stats, nil
}

// learnShapes takes image shapes from the first record that has them.
func (t *Transforms) learnShapes(rec *Record) {
	for i := range t.Features {
		ft := &t.Features[i]
		if ft.Type == Image && ft.Shape == nil {
			ft.Shape = slices.Clone(rec.Fields[t.layout.column[i]].Shape)
		}
	}
}

// Stats counts the rows a pass read and the malformed rows it skipped.
type Stats struct {
	Rows    int64
	Skipped int64
}

// accumulator gathers one feature's statistics over the training rows.
type accumulator struct {
	n, mean, m2 float64 // Welford's running mean and sum of squares
	min, max    float64
	seen        int64
	sample      []float64
	counts      map[string]int64
	rng         *rand.Rand
}

func (a *accumulator) add(ft *FeatureTransform, f Field) {
	switch ft.Type {
	case Numeric:
		x, ok, _ := f.number()
		if !ok {
			return
		}
		if ft.Log {
			x = math.Log1p(max(x, 0))
		}
		a.observe(x)
		if ft.Buckets.Quantiles > 0 {
			a.reservoir(x)
		}
	case Categorical:
		if ft.HashBuckets == 0 {
			a.count(f.text())
		}
	case MultiHot:
		if ft.HashBuckets == 0 {
			items, _ := f.items(ft.Separator, nil)
			for _, s := range items {
				a.count(s)
			}
		}
	case Image:
		if ft.Normalize == NormStandard {
			for _, v := range f.Vec {
				a.observe(float64(v))
			}
		}
	}
}

func (a *accumulator) observe(x float64) {
	if a.n == 0 || x < a.min {
		a.min = x
	}
	if a.n == 0 || x > a.max {
		a.max = x
	}
	a.n++
	d := x - a.mean
	a.mean += d / a.n
	a.m2 += d * (x - a.mean)
}

// reservoir keeps a uniform sample of sampleSize values (Algorithm R).
func (a *accumulator) reservoir(x float64) {
	a.seen++
	if len(a.sample) < sampleSize {
		a.sample = append(a.sample, x)
	} else if j := a.rng.Int64N(a.seen); j < sampleSize {
		a.sample[j] = x
	}
}

func (a *accumulator) count(s string) {
	if a.counts == nil {
		a.counts = map[string]int64{}
	}
	a.counts[s]++
}

// finish stores the fitted values in ft.
func (a *accumulator) finish(ft *FeatureTransform) {
	if ft.Type == Numeric || ft.Type == Image {
		ft.Mean, ft.Fill, ft.Min, ft.Max = a.mean, a.mean, a.min, a.max
		ft.Std = math.Sqrt(a.m2 / max(a.n, 1))
		if ft.Std == 0 {
			ft.Std = 1
		}
	}
	if ft.Buckets.Quantiles > 0 {
		ft.Boundaries = quantiles(a.sample, ft.Buckets.Quantiles)
	}
	if (ft.Type == Categorical || ft.Type == MultiHot) && ft.HashBuckets == 0 {
		ft.Vocabulary = vocabulary(a.counts, ft.Vocab)
	}
}

// quantiles returns the strictly increasing boundaries that split sample
// into q groups of nearly equal size (fewer when values repeat).
func quantiles(sample []float64, q int) []float64 {
	slices.Sort(sample)
	var b []float64
	for k := 1; k < q && len(sample) > 0; k++ {
		x := sample[k*len(sample)/q]
		if len(b) == 0 || x > b[len(b)-1] {
			b = append(b, x)
		}
	}
	return b
}

// vocabulary lists the values seen at least MinCount times, most frequent
// first (ties by value), at most MaxSize of them when MaxSize is positive.
func vocabulary(counts map[string]int64, v Vocab) []string {
	words := make([]string, 0, len(counts))
	for w, c := range counts {
		if c >= int64(v.MinCount) {
			words = append(words, w)
		}
	}
	slices.SortFunc(words, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	if v.MaxSize > 0 && len(words) > v.MaxSize {
		words = words[:v.MaxSize]
	}
	return words
}
