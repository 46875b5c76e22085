package data

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// The synthetic click-through data set: 13 count features I1..I13, 26
// categorical features C1..C26 (the layout of the Criteo display-ads data)
// and optionally a multi-hot "tags" list, with a binary "label". The click
// probability is a known function of the observable columns:
//
//	logit = bias + Σ w_i·u_i + a·u_1·u_2 + b·(u_3² − 1)      (dense)
//	      + Σ e_j[C_j] + Σ_(j,k) U_j[C_j]·V_k[C_k]            (categorical)
//	      + c·mean(t[tag])                                    (tags)
//	      + d·Σ_k γ^k·[topic(history[−1−k]) = topic(item)] / Σ_k γ^k  (sequence)
//
// with u_i = (log1p(I_i) − μ_i)/σ_i. It has main effects (what a logistic
// model learns), a dense product and square (what an MLP learns) and
// low-rank crosses of categorical pairs (what DLRM and DCN-v2 learn), and
// optionally a user's recent items and a candidate item whose hidden topics
// match with a recency decay (what a sequence model learns). The
// generating model is fixed; the seed draws the rows, so files written with
// different seeds are independent samples of one distribution (train on
// one, test on another).
const synthWorldSeed = 0x5eed_c11c

const (
	synthDense    = 13
	synthCat      = 26
	synthRank     = 4   // rank of the categorical crosses
	synthTagVocab = 200 // distinct tags
	synthMaxTags  = 5
	synthItems    = 1000 // distinct items of the sequence columns
	synthTopics   = 20   // hidden item topics: item i has topic i % synthTopics
	synthMaxHist  = 20   // longest history
	synthDecay    = 0.7  // weight of each older history item relative to the next
	synthSeqScale = 4.0  // weight of the history-candidate topic match
	// synthMatchRate is the chance that a history item and the candidate
	// share a topic: both from the user's topic, or by chance.
	synthMatchRate = 0.6*0.6 + (1-0.6*0.6)/synthTopics
)

// synthCardinality lists C1..C26's numbers of distinct values.
var synthCardinality = [synthCat]int{1000, 500, 2000, 800, 300, 24, 1500, 600, 3, 900, 700, 1200, 400,
	27, 1800, 1100, 10, 650, 450, 4, 750, 18, 15, 350, 105, 142}

// synthCrosses are the categorical pairs with a low-rank interaction.
var synthCrosses = [][2]int{{0, 1}, {5, 13}, {2, 19}}

// SynthOptions configures WriteSynthetic.
type SynthOptions struct {
	Rows     int
	Seed     uint64 // draws the rows; the generating model does not change
	MultiHot bool   // add the "tags" column
	// Sequence adds "history", a user's 0 to 20 recent items (oldest first),
	// and "item", the candidate: the click probability rises when the
	// candidate shares the hidden topic of recent history items.
	Sequence bool
}

// SynthInfo describes a written synthetic file.
type SynthInfo struct {
	Rows    int      `json:"rows"`
	Seed    uint64   `json:"seed"`
	Columns []string `json:"columns"`
	CTR     float64  `json:"ctr"` // fraction of positive labels
	// BayesAUC is the AUC of the true click probability p over this file's
	// rows, each pair weighted by the probability p_i(1−p_j) that it is a
	// (click, no click) pair given the features: the AUC the best possible
	// model gets, up to the noise of the labels drawn.
	BayesAUC float64 `json:"bayes_auc"`
	// SampleAUC is the AUC of the true probability against the labels
	// actually drawn; it differs from BayesAUC by sampling noise.
	SampleAUC float64 `json:"sample_auc"`
}

// synthModel is the fixed generating model.
type synthModel struct {
	mu, sigma, w [synthDense]float64
	effect       [synthCat][]float64
	values       [synthCat][]string // the string written for each id
	crossU       [][]float64        // per cross: [card_j * rank]
	crossV       [][]float64        // per cross: [card_k * rank]
	tagEffect    []float64
	tags         []string
	bias         float64
}

func newSynthModel() *synthModel {
	r := rand.New(rand.NewPCG(synthWorldSeed, 0))
	m := &synthModel{bias: -1.6}
	for i := range synthDense {
		m.mu[i] = 0.5 + 3*r.Float64()
		m.sigma[i] = 0.5 + r.Float64()
		if i < 8 {
			m.w[i] = 0.3 * r.NormFloat64()
		}
	}
	for j, card := range synthCardinality {
		scale := 0.0
		if j < 16 {
			scale = 0.3
		}
		m.effect[j] = normals(r, card, scale)
		for id := range card {
			// Adding a constant and multiplying by an odd number are
			// bijections on uint32: distinct ids get distinct,
			// random-looking hex strings.
			x := ((uint32(j)<<16 | uint32(id)) + 0x2545f491) * 0x9e3779b1
			m.values[j] = append(m.values[j], fmt.Sprintf("%08x", x))
		}
	}
	for _, c := range synthCrosses {
		m.crossU = append(m.crossU, normals(r, synthCardinality[c[0]]*synthRank, 0.55))
		m.crossV = append(m.crossV, normals(r, synthCardinality[c[1]]*synthRank, 0.55))
	}
	m.tagEffect = normals(r, synthTagVocab, 1)
	for i := range synthTagVocab {
		m.tags = append(m.tags, "tag"+strconv.Itoa(i))
	}
	return m
}

func normals(r *rand.Rand, n int, scale float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = scale * r.NormFloat64()
	}
	return out
}

// synthColumns are the written columns.
func synthColumns(opt SynthOptions) []column {
	cols := []column{{name: "label", kind: Num, integer: true}}
	for i := range synthDense {
		cols = append(cols, column{name: "I" + strconv.Itoa(i+1), kind: Num, integer: true})
	}
	for j := range synthCat {
		cols = append(cols, column{name: "C" + strconv.Itoa(j+1), kind: Str})
	}
	if opt.MultiHot {
		cols = append(cols, column{name: "tags", kind: List})
	}
	if opt.Sequence {
		cols = append(cols, column{name: "history", kind: List}, column{name: "item", kind: Str})
	}
	return cols
}

// sampler draws rows of the model.
type sampler struct {
	m    *synthModel
	r    *rand.Rand
	zipf [synthCat]*rand.Zipf
	tagZ *rand.Zipf
	// itemZ draws an item's rank within its topic.
	itemZ *rand.Zipf
}

func (m *synthModel) sampler(seed uint64) *sampler {
	r := rand.New(rand.NewPCG(seed, 1))
	s := &sampler{m: m, r: r, tagZ: rand.NewZipf(r, 1.1, 3, synthTagVocab-1),
		itemZ: rand.NewZipf(r, 1.1, 2, synthItems/synthTopics-1)}
	for j, card := range synthCardinality {
		s.zipf[j] = rand.NewZipf(r, 1.1, 5, uint64(card-1))
	}
	return s
}

// row fills fields (label first, as synthColumns) and returns the true
// click probability.
func (s *sampler) row(fields []Field, opt SynthOptions) float64 {
	m := s.m
	var u [synthDense]float64
	logit := m.bias
	for i := range synthDense {
		count := math.Floor(math.Exp(m.mu[i] + m.sigma[i]*s.r.NormFloat64()))
		fields[1+i] = Field{Kind: Num, Num: count}
		u[i] = (math.Log1p(count) - m.mu[i]) / m.sigma[i]
		logit += m.w[i] * u[i]
	}
	logit += 0.5*u[0]*u[1] + 0.3*(u[2]*u[2]-1)
	var ids [synthCat]int
	for j := range synthCat {
		ids[j] = int(s.zipf[j].Uint64())
		fields[1+synthDense+j] = Field{Kind: Str, Str: m.values[j][ids[j]]}
		logit += m.effect[j][ids[j]]
	}
	for c, pair := range synthCrosses {
		a := m.crossU[c][ids[pair[0]]*synthRank:][:synthRank]
		b := m.crossV[c][ids[pair[1]]*synthRank:][:synthRank]
		for k := range synthRank {
			logit += a[k] * b[k]
		}
	}
	next := 1 + synthDense + synthCat
	if opt.MultiHot {
		n := s.r.IntN(synthMaxTags + 1)
		f := &fields[next]
		next++
		*f = Field{Kind: List, List: f.List[:0]}
		var sum float64
		for range n {
			t := s.tagZ.Uint64()
			f.List = append(f.List, m.tags[t])
			sum += m.tagEffect[t]
		}
		if n > 0 {
			logit += 0.8 * sum / float64(n)
		}
	}
	if opt.Sequence {
		logit += s.sequence(fields[next : next+2])
	}
	p := 1 / (1 + math.Exp(-logit))
	label := 0.0
	if s.r.Float64() < p {
		label = 1
	}
	fields[0] = Field{Kind: Num, Num: label}
	return p
}

// sequence fills the history and item fields and returns their logit
// term, centred on the average match rate (0 without history). A user
// prefers one topic: each history item and the candidate come from it with
// probability 0.6 and from a uniform topic otherwise.
func (s *sampler) sequence(fields []Field) float64 {
	user := s.r.IntN(synthTopics)
	item := func() int {
		topic := user
		if s.r.Float64() >= 0.6 {
			topic = s.r.IntN(synthTopics)
		}
		return int(s.itemZ.Uint64())*synthTopics + topic
	}
	n := s.r.IntN(synthMaxHist + 1)
	hist := make([]int, n)
	f := &fields[0]
	*f = Field{Kind: List, List: f.List[:0]}
	for k := range hist {
		hist[k] = item()
		f.List = append(f.List, "i"+strconv.Itoa(hist[k]))
	}
	cand := item()
	fields[1] = Field{Kind: Str, Str: "i" + strconv.Itoa(cand)}
	var match, norm float64
	w := 1.0
	for k := n - 1; k >= 0; k-- {
		if hist[k]%synthTopics == cand%synthTopics {
			match += w
		}
		norm += w
		w *= synthDecay
	}
	if norm == 0 {
		return 0
	}
	return synthSeqScale * (match/norm - synthMatchRate)
}

// WriteSynthetic writes opt.Rows synthetic click-through rows to path,
// in Parquet or CSV by its extension (.parquet or .csv), and returns
// the file's true statistics, the Bayes-optimal AUC among them.
func WriteSynthetic(path string, opt SynthOptions) (SynthInfo, error) {
	if opt.Rows < 1 {
		return SynthInfo{}, fmt.Errorf("data: synthetic rows %d must be positive", opt.Rows)
	}
	cols := synthColumns(opt)
	w, err := createTable(path, cols)
	if err != nil {
		return SynthInfo{}, err
	}
	s := newSynthModel().sampler(opt.Seed)
	fields := make([]Field, len(cols))
	probs := make([]float64, opt.Rows)
	labels := make([]bool, opt.Rows)
	clicks := 0
	for i := range opt.Rows {
		probs[i] = s.row(fields, opt)
		labels[i] = fields[0].Num == 1
		if labels[i] {
			clicks++
		}
		if err := w.write(fields); err != nil {
			w.Close()
			return SynthInfo{}, fmt.Errorf("data: %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		return SynthInfo{}, fmt.Errorf("data: %s: %w", path, err)
	}
	info := SynthInfo{Rows: opt.Rows, Seed: opt.Seed, CTR: float64(clicks) / float64(opt.Rows),
		BayesAUC: expectedAUC(probs), SampleAUC: sampleAUC(probs, labels)}
	for _, c := range cols {
		info.Columns = append(info.Columns, c.name)
	}
	return info, nil
}

// expectedAUC is the AUC of scores p with labels drawn as Bernoulli(p),
// taken over pairs weighted by their chance of being (positive, negative):
// Σ_{i≠j} p_i(1−p_j)·[p_i > p_j, ½ for ties] / Σ_{i≠j} p_i(1−p_j).
func expectedAUC(p []float64) float64 {
	p = slices.Clone(p)
	slices.Sort(p)
	var num, pos, neg, self, below float64 // below: Σ(1−p_j) over lower groups
	for i := 0; i < len(p); {
		j := i
		var gPos, gNeg, gSelf float64
		for ; j < len(p) && p[j] == p[i]; j++ {
			gPos += p[j]
			gNeg += 1 - p[j]
			gSelf += p[j] * (1 - p[j])
		}
		num += gPos*below + 0.5*(gPos*gNeg-gSelf)
		below += gNeg
		pos += gPos
		neg += gNeg
		self += gSelf
		i = j
	}
	return num / (pos*neg - self)
}

// sampleAUC is the AUC of scores against labels, ties counting one half.
func sampleAUC(scores []float64, labels []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	var num, pos, neg, negBelow float64
	for i := 0; i < len(idx); {
		j := i
		var gPos, gNeg float64
		for ; j < len(idx) && scores[idx[j]] == scores[idx[i]]; j++ {
			if labels[idx[j]] {
				gPos++
			} else {
				gNeg++
			}
		}
		num += gPos*negBelow + 0.5*gPos*gNeg
		negBelow += gNeg
		pos += gPos
		neg += gNeg
		i = j
	}
	return num / (pos * neg)
}
