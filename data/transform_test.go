package data

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"testing"
)

// fitRows writes rows to a CSV file and fits features on it.
func fitRows(t *testing.T, cols []column, rows [][]Field, features []Feature, label Label) (*Transforms, Source) {
	t.Helper()
	path := writeTable(t, t.TempDir(), "train.csv", cols, rows)
	src := Source{Path: path, Format: FormatCSV}
	tr, stats, err := Fit(context.Background(), src, features, label, FitOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != int64(len(rows)) || stats.Skipped != 0 {
		t.Fatalf("fit stats %+v, want %d rows", stats, len(rows))
	}
	return tr, src
}

// viaJSON returns a copy of tr made as serving makes it: from its JSON.
func viaJSON(t *testing.T, tr *Transforms) *Transforms {
	t.Helper()
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var out Transforms
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestFitNumeric(t *testing.T) {
	cols := []column{{name: "x", kind: Num}, {name: "label", kind: Num}}
	var rows [][]Field
	for i := 1; i <= 100; i++ {
		rows = append(rows, []Field{num(float64(i)), num(float64(i % 2))})
	}
	rows = append(rows, []Field{{}, num(0)}) // a missing value is not fitted
	features := []Feature{
		{Name: "std", Column: "x", Type: Numeric, Normalize: NormStandard},
		{Name: "mm", Column: "x", Type: Numeric, Normalize: NormMinMax},
		{Name: "log", Column: "x", Type: Numeric, Log: true, Normalize: NormNone},
		{Name: "q", Column: "x", Type: Numeric, Buckets: Buckets{Quantiles: 4}},
		{Name: "fixed", Column: "x", Type: Numeric, Buckets: Buckets{Boundaries: []float64{10, 50}}},
	}
	tr, _ := fitRows(t, cols, rows, features, Label{Name: "label", Type: Binary})
	std, mm, lg, q := tr.Features[0], tr.Features[1], tr.Features[2], tr.Features[3]
	if !near(std.Mean, 50.5) || !near(std.Std, math.Sqrt((100*100-1)/12.0)) || !near(std.Fill, 50.5) {
		t.Errorf("standard: mean %v std %v fill %v", std.Mean, std.Std, std.Fill)
	}
	if mm.Min != 1 || mm.Max != 100 {
		t.Errorf("minmax: %v %v", mm.Min, mm.Max)
	}
	var logMean float64
	for i := 1; i <= 100; i++ {
		logMean += math.Log1p(float64(i)) / 100
	}
	if math.Abs(lg.Mean-logMean) > 1e-12 {
		t.Errorf("log mean %v, want %v", lg.Mean, logMean)
	}
	if !reflect.DeepEqual(q.Boundaries, []float64{26, 51, 76}) {
		t.Errorf("quantile boundaries %v", q.Boundaries)
	}
	ex := &Example{}
	rec := &Record{Fields: []Field{str("26"), str("1")}}
	if err := tr.Encode(rec, ex); err != nil {
		t.Fatal(err)
	}
	wantDense := []float32{float32((26 - 50.5) / std.Std), float32(25.0 / 99), float32(math.Log1p(26))}
	if !reflect.DeepEqual(ex.Dense, wantDense) || !reflect.DeepEqual(ex.Cat, []int32{1, 1}) || ex.Label != 1 {
		t.Errorf("encode 26: dense %v cat %v label %v, want %v [1 1] 1", ex.Dense, ex.Cat, ex.Label, wantDense)
	}
	rec.Fields[0] = Field{}
	tr.Encode(rec, ex)
	if ex.Dense[0] != 0 || ex.Cat[1] != 2 {
		t.Errorf("missing value: dense %v cat %v, want mean (0 standardised, bucket 2)", ex.Dense, ex.Cat)
	}
}

func TestFitVocabulary(t *testing.T) {
	cols := []column{{name: "c", kind: Str}, {name: "tags", kind: List}, {name: "label", kind: Num}}
	values := []string{"a", "b", "a", "c", "a", "b", "d"}
	var rows [][]Field
	for _, v := range values {
		rows = append(rows, []Field{str(v), list(v, "z"), num(0)})
	}
	features := []Feature{
		{Name: "min2", Column: "c", Type: Categorical, Vocab: Vocab{MinCount: 2, OOVBuckets: 3}},
		{Name: "top1", Column: "c", Type: Categorical, Vocab: Vocab{MinCount: 1, MaxSize: 1, OOVBuckets: 1}},
		{Name: "hash", Column: "c", Type: Categorical, HashBuckets: 16},
		{Name: "tags", Column: "tags", Type: MultiHot, Separator: "|", MaxLen: 1, Vocab: Vocab{MinCount: 1, OOVBuckets: 1}},
	}
	tr, _ := fitRows(t, cols, rows, features, Label{Name: "label", Type: Binary})
	if v := tr.Features[0].Vocabulary; !reflect.DeepEqual(v, []string{"a", "b"}) {
		t.Errorf("min_count 2: %v", v)
	}
	if v := tr.Features[1].Vocabulary; !reflect.DeepEqual(v, []string{"a"}) {
		t.Errorf("max_size 1: %v", v)
	}
	if v := tr.Features[3].Vocabulary; !reflect.DeepEqual(v, []string{"z", "a", "b", "c", "d"}) {
		t.Errorf("multi_hot: %v", v)
	}
	s := tr.Schema()
	want := []Slot{{"min2", 5}, {"top1", 2}, {"hash", 16}}
	if !reflect.DeepEqual(s.Categorical, want) || !reflect.DeepEqual(s.MultiHot, []Slot{{"tags", 6}}) {
		t.Errorf("schema %+v", s)
	}
	ex, err := tr.Apply(map[string]any{"c": "d", "tags": "c|a"})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Cat[0] != 2+hashID("d", 3) || ex.Cat[1] != 1 || ex.Cat[2] != hashID("d", 16) {
		t.Errorf("ids %v", ex.Cat)
	}
	if !reflect.DeepEqual(ex.Multi[0], []int32{1}) { // max_len 1 keeps the last item
		t.Errorf("multi %v", ex.Multi)
	}
}

func TestTransformsJSONAndApplyMatchBatches(t *testing.T) {
	cols := []column{{name: "x", kind: Num}, {name: "c", kind: Str}, {name: "tags", kind: List}, {name: "label", kind: Num}}
	var rows [][]Field
	for i := range 200 {
		x := Field{}
		if i%7 != 0 {
			x = num(float64(i*i%97) / 3)
		}
		tags := []string{}
		for j := range i % 4 {
			tags = append(tags, "t"+strconv.Itoa((i+j)%9))
		}
		rows = append(rows, []Field{x, num(float64(i % 13)), list(tags...), num(float64(i % 2))})
	}
	features := []Feature{
		{Name: "x", Column: "x", Type: Numeric, Log: true, Normalize: NormStandard},
		{Name: "xb", Column: "x", Type: Numeric, Buckets: Buckets{Quantiles: 5}},
		{Name: "c", Column: "c", Type: Categorical, Vocab: Vocab{MinCount: 16, OOVBuckets: 2}},
		{Name: "tags", Column: "tags", Type: MultiHot, Separator: "|", Vocab: Vocab{MinCount: 1, OOVBuckets: 1}},
	}
	fitted, src := fitRows(t, cols, rows, features, Label{Name: "label", Type: Binary})
	served := viaJSON(t, fitted)
	l, err := NewLoader(fitted, src, LoaderOptions{BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for batch, err := range l.Batches(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		var inputs []map[string]any
		for k := range batch.Size {
			r := rows[i]
			// A serving request as JSON would carry it: numbers as float64,
			// lists as []any.
			in := map[string]any{"c": r[1].Num, "tags": []any{}}
			if r[0].Kind == Num {
				in["x"] = r[0].Num
			}
			for _, s := range r[2].List {
				in["tags"] = append(in["tags"].([]any), s)
			}
			inputs = append(inputs, in)
			ex, err := served.Apply(in)
			if err != nil {
				t.Fatal(err)
			}
			ids := batch.MultiIDs[0][batch.MultiOffsets[0][k]:batch.MultiOffsets[0][k+1]]
			if ex.Dense[0] != batch.Dense[k] || ex.Cat[0] != batch.Cat[0][k] || ex.Cat[1] != batch.Cat[1][k] ||
				!reflect.DeepEqual(append([]int32{}, ex.Multi[0]...), append([]int32{}, ids...)) {
				t.Fatalf("row %d: Apply %+v differs from batch (dense %v cat %v,%v ids %v)",
					i, ex, batch.Dense[k], batch.Cat[0][k], batch.Cat[1][k], ids)
			}
			i++
		}
		whole, err := served.ApplyBatch(inputs)
		if err != nil {
			t.Fatal(err)
		}
		if whole.Size != batch.Size || !reflect.DeepEqual(whole.Dense, batch.Dense) || !reflect.DeepEqual(whole.Cat, batch.Cat) ||
			!reflect.DeepEqual(whole.MultiIDs, batch.MultiIDs) || !reflect.DeepEqual(whole.MultiOffsets, batch.MultiOffsets) {
			t.Errorf("ApplyBatch differs from the loader's batch ending at row %d", i)
		}
	}
	if i != len(rows) {
		t.Errorf("batches held %d rows, want %d", i, len(rows))
	}
}

func TestApplyErrors(t *testing.T) {
	tr, err := newTransforms([]Feature{{Name: "x", Type: Numeric, Normalize: NormNone}}, Label{Name: "y", Type: Binary})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Apply(map[string]any{"x": "abc"}); err == nil || err.Error() != `column "x": "abc" is not a number` {
		t.Errorf("got %v", err)
	}
	if _, err := tr.Apply(map[string]any{"x": struct{}{}}); err == nil || err.Error() != `column "x": unsupported value type struct {}` {
		t.Errorf("got %v", err)
	}
	if _, err := tr.ApplyBatch([]map[string]any{{"x": 1}, {"x": "1e400"}}); err == nil || err.Error() != `row 1: column "x": "1e400" is not a number` {
		t.Errorf("got %v", err)
	}
}

func TestSharedVocabulary(t *testing.T) {
	cols := []column{{name: "history", kind: List}, {name: "item", kind: Str}, {name: "label", kind: Num}}
	rows := [][]Field{
		{list("a", "b"), str("c"), num(1)},
		{list("b"), str("b"), num(0)},
		{list("a", "d"), str("a"), num(1)},
	}
	features := []Feature{
		{Name: "history", Type: MultiHot, Separator: "|", VocabFrom: "item"},
		{Name: "item", Type: Categorical, Vocab: Vocab{MinCount: 2, OOVBuckets: 1}},
	}
	tr, _ := fitRows(t, cols, rows, features, Label{Name: "label", Type: Binary})
	// Counts over both columns: a 3, b 3, c 1, d 1.
	for _, ft := range tr.Features {
		if !reflect.DeepEqual(ft.Vocabulary, []string{"a", "b"}) || ft.Cardinality() != 3 {
			t.Errorf("%s: vocabulary %v, cardinality %d", ft.Name, ft.Vocabulary, ft.Cardinality())
		}
	}
	ex, err := viaJSON(t, tr).Apply(map[string]any{"history": []string{"b", "a", "zz"}, "item": "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ex.Multi[0], []int32{1, 0, 2}) || ex.Cat[0] != 1 {
		t.Errorf("history %v, item %v", ex.Multi[0], ex.Cat)
	}
	_, err = newTransforms([]Feature{{Name: "h", Type: MultiHot, VocabFrom: "x"}}, Label{Name: "y", Type: Binary})
	if err == nil || err.Error() != `data: feature "h": vocab_from names no feature "x"` {
		t.Errorf("got %v", err)
	}
	_, err = newTransforms([]Feature{{Name: "h", Type: MultiHot, VocabFrom: "x"}, {Name: "x", Type: Categorical, HashBuckets: 8}},
		Label{Name: "y", Type: Binary})
	if err == nil || err.Error() != `data: feature "h": vocab_from "x" must name another categorical or multi_hot feature with a vocabulary of its own` {
		t.Errorf("got %v", err)
	}
}

func TestFieldValueRoundTrip(t *testing.T) {
	fields := []Field{
		{},
		{Kind: Num, Num: 2.5},
		{Kind: Str, Str: "a"},
		{Kind: List, List: []string{"x", "y"}},
		{Kind: Vec, Vec: []float32{1, 2}},
	}
	rec := &Record{Fields: fields}
	row := rec.Raw([]string{"n", "num", "str", "list", "vec"})
	fields[3].List[0] = "reused" // a reader reuses its buffers
	for i, c := range []string{"n", "num", "str", "list", "vec"} {
		got, err := fieldOf(row[c])
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		want := fields[i]
		if i == 3 {
			want.List = []string{"x", "y"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: round trip gave %+v, want %+v", c, got, want)
		}
	}
}
