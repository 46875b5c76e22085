package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// idSource writes n rows whose "id" column is the row index, and returns
// transforms that pass it through unchanged as the label.
func idSource(t *testing.T, n int) (*Transforms, Source) {
	t.Helper()
	var rows [][]Field
	for i := range n {
		rows = append(rows, []Field{num(float64(i)), num(float64(i))})
	}
	path := writeTable(t, t.TempDir(), "ids.parquet", []column{{name: "id", kind: Num}, {name: "y", kind: Num}}, rows)
	tr, err := newTransforms([]Feature{{Name: "id", Type: Numeric, Normalize: NormNone}}, Label{Name: "y", Type: Regression})
	if err != nil {
		t.Fatal(err)
	}
	return tr, Source{Path: path, Format: FormatParquet}
}

// labels runs one pass of a new loader and returns the labels in order.
func labels(t *testing.T, tr *Transforms, src Source, opt LoaderOptions, epoch int) []int {
	t.Helper()
	l, err := NewLoader(tr, src, opt)
	if err != nil {
		t.Fatal(err)
	}
	return pass(t, l, epoch)
}

// pass runs one pass of l and returns the labels in order, checking that
// batches are consistent.
func pass(t *testing.T, l *Loader, epoch int) []int {
	t.Helper()
	var out []int
	for b, err := range l.Batches(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		if b.Size > l.opt.BatchSize || len(b.Labels) != b.Size || len(b.Dense) != b.Size {
			t.Fatalf("batch of %d with %d labels and %d dense values", b.Size, len(b.Labels), len(b.Dense))
		}
		for i, y := range b.Labels {
			if b.Dense[i] != y {
				t.Fatalf("feature %v and label %v of one example differ", b.Dense[i], y)
			}
			out = append(out, int(y))
		}
	}
	return out
}

func TestShuffleIsASeededPermutation(t *testing.T) {
	tr, src := idSource(t, 1000)
	opt := LoaderOptions{BatchSize: 64, ShuffleBuffer: 200, Seed: 7, Prefetch: 2}
	a := labels(t, tr, src, opt, 0)
	b := labels(t, tr, src, opt, 0)
	if !slices.Equal(a, b) {
		t.Error("same seed and epoch gave different orders")
	}
	sorted := slices.Sorted(slices.Values(a))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("not a permutation of 0..999: sorted[%d] = %d", i, v)
		}
	}
	if slices.IsSorted(a) {
		t.Error("shuffled order equals file order")
	}
	if slices.Equal(a, labels(t, tr, src, opt, 1)) {
		t.Error("a new epoch gave the same order")
	}
	opt.ShuffleBuffer = 0
	if got := labels(t, tr, src, opt, 0); !slices.IsSorted(got) || len(got) != 1000 {
		t.Error("without a shuffle buffer rows are not in file order")
	}
}

func TestInMemory(t *testing.T) {
	tr, src := idSource(t, 500)
	l, err := NewLoader(tr, src, LoaderOptions{BatchSize: 64, ShuffleBuffer: 2, Seed: 3, InMemory: true, Rank: 1, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	first := pass(t, l, 0)
	// Later passes read no file.
	if err := os.Remove(src.Path); err != nil {
		t.Fatal(err)
	}
	if again := pass(t, l, 0); !slices.Equal(first, again) {
		t.Error("same epoch, different order")
	}
	second := pass(t, l, 1)
	if slices.Equal(first, second) {
		t.Error("a new epoch gave the same order")
	}
	sorted := slices.Sorted(slices.Values(second))
	for i, v := range sorted {
		if v != 2*i+1 {
			t.Fatalf("not a permutation of the odd rows: sorted[%d] = %d", i, v)
		}
	}
	if len(sorted) != 250 || l.Stats().Rows != 750 {
		t.Errorf("%d rows per pass, %d delivered in all", len(sorted), l.Stats().Rows)
	}
}

func TestShardingPartitionsRows(t *testing.T) {
	tr, src := idSource(t, 103)
	seen := map[int]int{}
	for rank := range 3 {
		got := labels(t, tr, src, LoaderOptions{BatchSize: 10, ShuffleBuffer: 16, Rank: rank, Workers: 3}, 0)
		if len(got) != 34 && len(got) != 35 {
			t.Errorf("rank %d got %d rows, want 34 or 35", rank, len(got))
		}
		for _, id := range got {
			if id%3 != rank {
				t.Errorf("rank %d got row %d", rank, id)
			}
			seen[id]++
		}
	}
	for i := range 103 {
		if seen[i] != 1 {
			t.Errorf("row %d seen %d times", i, seen[i])
		}
	}
	if _, err := NewLoader(tr, src, LoaderOptions{BatchSize: 1, Rank: 3, Workers: 3}); err == nil {
		t.Error("rank 3 of 3 accepted")
	}
}

func TestDropRemainder(t *testing.T) {
	tr, src := idSource(t, 25)
	if got := labels(t, tr, src, LoaderOptions{BatchSize: 10, DropRemainder: true}, 0); len(got) != 20 {
		t.Errorf("got %d rows, want 20", len(got))
	}
}

const badCSV = "x,c,label\n1,a,0\nabc,b,1\n2,c,1,extra\n3,\"d\n4,e,7\n5,f,1\n"

func TestMalformedRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(path, []byte(badCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	src := Source{Path: path, Format: FormatCSV}
	features := []Feature{
		{Name: "x", Type: Numeric, Normalize: NormNone},
		{Name: "c", Type: Categorical, HashBuckets: 8},
	}
	label := Label{Name: "label", Type: Binary}
	_, _, err := Fit(context.Background(), src, features, label, FitOptions{})
	var re *RowError
	if !errors.As(err, &re) || err.Error() != path+`:3: row 2: column "x": "abc" is not a number` {
		t.Fatalf("got %v", err)
	}
	tr, stats, err := Fit(context.Background(), src, features, label, FitOptions{SkipBadRows: true})
	if err != nil {
		t.Fatal(err)
	}
	// The data records are: good, a bad number, an extra field, and a
	// quoted field that runs unterminated to the end of the file.
	if stats.Rows != 1 || stats.Skipped != 3 {
		t.Errorf("fit stats %+v, want 1 row and 3 skipped", stats)
	}
	l, _ := NewLoader(tr, src, LoaderOptions{BatchSize: 4})
	var errs []string
	for _, err := range l.Batches(context.Background(), 0) {
		errs = append(errs, err.Error())
	}
	if want := path + ":3: row 2: column \"x\": \"abc\" is not a number"; len(errs) != 1 || errs[0] != want {
		t.Errorf("loader errors %q, want [%q]", errs, want)
	}
}

func TestMalformedRowKinds(t *testing.T) {
	dir := t.TempDir()
	tr, err := newTransforms([]Feature{{Name: "x", Type: Numeric, Normalize: NormNone}}, Label{Name: "label", Type: Binary})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "skip.csv")
	os.WriteFile(path, []byte("x,label\n1,0\n2,3\n3,0,9\n4\n5,1\n"), 0o644)
	l, _ := NewLoader(tr, Source{Path: path, Format: FormatCSV}, LoaderOptions{BatchSize: 10, SkipBadRows: true})
	var got []float32
	for b, err := range l.Batches(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Dense...)
	}
	if !slices.Equal(got, []float32{1, 5}) || l.Stats() != (Stats{Rows: 2, Skipped: 3}) {
		t.Errorf("kept %v, stats %+v; want [1 5] and 3 skipped", got, l.Stats())
	}
	cases := []struct{ content, want string }{
		{"2,3", `:3: row 2: column "label": binary label 3 is not 0 or 1`},
		{"3,0,9", `:3: row 2: wrong number of fields`},
		{"4", `:3: row 2: wrong number of fields`},
		{"\"4,0", `:3: row 2: extraneous or missing " in quoted-field`},
		{"1,", `:3: row 2: column "label": missing label`},
	}
	for i, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("fail%d.csv", i))
		os.WriteFile(path, []byte("x,label\n1,0\n"+c.content+"\n5,1\n"), 0o644)
		l, _ := NewLoader(tr, Source{Path: path, Format: FormatCSV}, LoaderOptions{BatchSize: 10})
		var errs []string
		for _, err := range l.Batches(context.Background(), 0) {
			if err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) != 1 || errs[0] != path+c.want {
			t.Errorf("%q: got %q, want %s", c.content, errs, path+c.want)
		}
	}
}

func TestPrefetchCancels(t *testing.T) {
	tr, src := idSource(t, 5000)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, _ := NewLoader(tr, src, LoaderOptions{BatchSize: 8, Prefetch: 4})
	n := 0
	var last error
	for b, err := range l.Batches(ctx, 0) {
		if err != nil {
			last = err
			break
		}
		n += b.Size
		if n == 80 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("after cancel: got %v, want context.Canceled", last)
	}
	if l.Stats().Rows >= 5000 {
		t.Error("the producer read everything despite cancellation")
	}
	// Leaving the loop early stops the producer too.
	for range l.Batches(context.Background(), 0) {
		break
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after the passes, %d before", g, before)
	}
}

func TestBatchLayout(t *testing.T) {
	cols := []column{{name: "x", kind: Num}, {name: "tags", kind: List}, {name: "label", kind: Num}}
	rows := [][]Field{
		{num(1), list("a", "b"), num(0)},
		{num(2), list(), num(1)},
		{num(3), list("b"), num(1)},
	}
	path := writeTable(t, t.TempDir(), "t.parquet", cols, rows)
	tr, err := newTransforms([]Feature{
		{Name: "x", Type: Numeric, Normalize: NormNone},
		{Name: "tags", Type: MultiHot, HashBuckets: 1000},
	}, Label{Name: "label", Type: Binary})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := NewLoader(tr, Source{Path: path, Format: FormatParquet}, LoaderOptions{BatchSize: 3})
	for b, err := range l.Batches(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		a, bb := hashID("a", 1000), hashID("b", 1000)
		if !slices.Equal(b.MultiIDs[0], []int32{a, bb, bb}) || !slices.Equal(b.MultiOffsets[0], []int32{0, 2, 2, 3}) ||
			!slices.Equal(b.Labels, []float32{0, 1, 1}) || !slices.Equal(b.Dense, []float32{1, 2, 3}) {
			t.Errorf("batch %+v", b)
		}
	}
}

func TestImageBatches(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, filepath.Join(dir, "im"), true, []uint32{3, 1, 2}, []byte{0, 255, 51, 102, 255, 0})
	writeIDX(t, filepath.Join(dir, "lb"), false, []uint32{3}, []byte{4, 0, 9})
	src := Source{Path: filepath.Join(dir, "im"), Labels: filepath.Join(dir, "lb"), Format: FormatIDX}
	tr, _, err := Fit(context.Background(), src, []Feature{{Name: "image", Type: Image, Normalize: NormScale}},
		Label{Name: "label", Type: Multiclass, NumClasses: 10}, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := tr.Schema(); !slices.Equal(s.Image, []int{1, 1, 2}) {
		t.Errorf("image shape %v", s.Image)
	}
	l, _ := NewLoader(tr, src, LoaderOptions{BatchSize: 3})
	for b, err := range l.Batches(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		scale := float32(1.0 / 255)
		if !slices.Equal(b.Image, []float32{0, 1, 51 * scale, 102 * scale, 1, 0}) || !slices.Equal(b.Labels, []float32{4, 0, 9}) {
			t.Errorf("image batch %v labels %v", b.Image, b.Labels)
		}
	}
	tr.Label.NumClasses = 5
	l, _ = NewLoader(tr, src, LoaderOptions{BatchSize: 3})
	for _, err := range l.Batches(context.Background(), 0) {
		if want := filepath.Join(dir, "im") + `: row 3: column "label": class 9 is not an integer in [0, 5)`; err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	}
}

// sliceSource is a RowSource of rows held in memory; a nil row stands for
// a malformed one.
type sliceSource [][]Field

func (s sliceSource) Records(columns []string) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for i, fields := range s {
			rec := &Record{File: "mem", Row: int64(i + 1), Fields: fields}
			if fields == nil {
				if !yield(nil, rec.rowError("", errors.New("unreadable"))) {
					return
				}
				continue
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

func TestCustomRowSource(t *testing.T) {
	src := sliceSource{{str("a"), num(1)}, nil, {str("b"), num(0)}, {str("a"), num(1)}}
	tr, stats, err := Fit(context.Background(), src, []Feature{{Name: "c", Type: Categorical, Vocab: Vocab{MinCount: 2, OOVBuckets: 1}}},
		Label{Name: "y", Type: Binary}, FitOptions{SkipBadRows: true})
	if err != nil || stats != (Stats{Rows: 3, Skipped: 1}) {
		t.Fatalf("fit: %v %+v", err, stats)
	}
	l, _ := NewLoader(tr, src, LoaderOptions{BatchSize: 8, SkipBadRows: true})
	for b, err := range l.Batches(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(b.Cat[0], []int32{0, 1, 0}) || !slices.Equal(b.Labels, []float32{1, 0, 1}) {
			t.Errorf("batch %+v", b)
		}
	}
	l, _ = NewLoader(tr, src, LoaderOptions{BatchSize: 8})
	for _, err := range l.Batches(context.Background(), 0) {
		if err == nil || err.Error() != "mem: row 2: unreadable" {
			t.Errorf("got %v", err)
		}
	}
}
