package data

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestExpectedAUC(t *testing.T) {
	// Two rows: the positive-scored pair (0.9, 0.2). Pairs i≠j:
	// p1(1-p2) = 0.9*0.8 ranks right, p2(1-p1) = 0.2*0.1 ranks wrong.
	got := expectedAUC([]float64{0.2, 0.9})
	if want := 0.72 / (0.72 + 0.02); math.Abs(got-want) > 1e-12 {
		t.Errorf("expectedAUC = %v, want %v", got, want)
	}
	if got := expectedAUC([]float64{0.3, 0.3, 0.3}); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("all ties: %v, want 0.5", got)
	}
	// It agrees with the mean sample AUC over many label draws.
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]float64, 300)
	for i := range p {
		p[i] = r.Float64()
	}
	var mean float64
	const draws = 2000
	labels := make([]bool, len(p))
	for range draws {
		for i := range p {
			labels[i] = r.Float64() < p[i]
		}
		mean += sampleAUC(p, labels) / draws
	}
	if want := expectedAUC(p); math.Abs(mean-want) > 0.003 {
		t.Errorf("mean sample AUC %v, expected AUC %v", mean, want)
	}
}

func TestSampleAUC(t *testing.T) {
	got := sampleAUC([]float64{0.1, 0.4, 0.35, 0.8, 0.4}, []bool{false, false, true, true, true})
	// Positives 0.35, 0.8, 0.4 against negatives 0.1, 0.4:
	// 0.35: 1 + 0; 0.8: 1 + 1; 0.4: 1 + 0.5 -> 4.5 / 6.
	if want := 4.5 / 6; math.Abs(got-want) > 1e-12 {
		t.Errorf("sampleAUC = %v, want %v", got, want)
	}
}

func TestWriteSynthetic(t *testing.T) {
	dir := t.TempDir()
	pq := filepath.Join(dir, "ctr.parquet")
	info, err := WriteSynthetic(pq, SynthOptions{Rows: 20000, Seed: 3, MultiHot: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Columns) != 1+13+26+1 || info.CTR < 0.1 || info.CTR > 0.5 {
		t.Errorf("info %+v", info)
	}
	if info.BayesAUC < 0.7 || info.BayesAUC > 0.9 || math.Abs(info.SampleAUC-info.BayesAUC) > 0.02 {
		t.Errorf("Bayes AUC %v, sample AUC %v", info.BayesAUC, info.SampleAUC)
	}
	csvPath := filepath.Join(dir, "ctr.csv")
	again, err := WriteSynthetic(csvPath, SynthOptions{Rows: 20000, Seed: 3, MultiHot: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.BayesAUC != info.BayesAUC || again.SampleAUC != info.SampleAUC || again.CTR != info.CTR {
		t.Errorf("same seed, different data: %+v vs %+v", again, info)
	}
	// Both files hold the same rows.
	cols := []string{"label", "I1", "C26", "tags"}
	a := readAll(t, Source{Path: pq, Format: FormatParquet}, cols)
	b := readAll(t, Source{Path: csvPath, Format: FormatCSV}, cols)
	if len(a) != 20000 || len(b) != 20000 {
		t.Fatalf("read %d and %d rows", len(a), len(b))
	}
	for i := range a {
		pa, pb := a[i].Fields, b[i].Fields
		tagsA, _ := pa[3].items("|", nil)
		tagsB, _ := pb[3].items("|", nil)
		if pa[0].text() != pb[0].text() || pa[1].text() != pb[1].text() || pa[2].Str != pb[2].Str || len(tagsA) != len(tagsB) {
			t.Fatalf("row %d differs: %+v vs %+v", i, pa, pb)
		}
	}
	other, err := WriteSynthetic(filepath.Join(dir, "other.parquet"), SynthOptions{Rows: 20000, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if other.SampleAUC == info.SampleAUC {
		t.Error("another seed gave the same sample")
	}
	// The whole pipeline reads it.
	features := []Feature{{Name: "I1", Type: Numeric, Log: true, Normalize: NormStandard},
		{Name: "C1", Type: Categorical, Vocab: Vocab{MinCount: 1, OOVBuckets: 1}},
		{Name: "tags", Type: MultiHot, Separator: "|", Vocab: Vocab{MinCount: 1, OOVBuckets: 1}}}
	tr, stats, err := Fit(context.Background(), Source{Path: pq, Format: FormatParquet}, features, Label{Name: "label", Type: Binary}, FitOptions{})
	if err != nil || stats.Rows != 20000 {
		t.Fatalf("fit: %v, %+v", err, stats)
	}
	if n := len(tr.Features[1].Vocabulary); n < 500 || n > 1000 {
		t.Errorf("C1 vocabulary has %d values of 1000", n)
	}
}

func TestSyntheticSequence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq.csv")
	info, err := WriteSynthetic(path, SynthOptions{Rows: 20000, Seed: 9, Sequence: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(info.Columns); n != 1+13+26+2 || info.Columns[n-2] != "history" || info.Columns[n-1] != "item" {
		t.Fatalf("columns %v", info.Columns)
	}
	topic := func(item string) int {
		i, err := strconv.Atoi(strings.TrimPrefix(item, "i"))
		if err != nil {
			t.Fatalf("item %q", item)
		}
		return i % synthTopics
	}
	// The planted structure: a candidate sharing the last history item's
	// topic is clicked more often.
	var clicks, rows [2]float64
	longest := 0
	for _, rec := range readAll(t, Source{Path: path, Format: FormatCSV}, []string{"label", "history", "item"}) {
		hist, _ := rec.Fields[1].items("|", nil)
		longest = max(longest, len(hist))
		if len(hist) == 0 {
			continue
		}
		m := 0
		if topic(hist[len(hist)-1]) == topic(rec.Fields[2].Str) {
			m = 1
		}
		rows[m]++
		if rec.Fields[0].Str == "1" {
			clicks[m]++
		}
	}
	if longest != synthMaxHist {
		t.Errorf("longest history %d, want %d", longest, synthMaxHist)
	}
	match, other := clicks[1]/rows[1], clicks[0]/rows[0]
	if match < other+0.1 {
		t.Errorf("click rate %.3f when the topics match, %.3f when not", match, other)
	}
}
