package train

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mlenv/mlenv/data"
)

// synthFiles writes a synthetic click-through training and validation file
// once per test binary and returns their paths and the Bayes-optimal AUC
// of the validation file.
var synthFiles = sync.OnceValues(func() ([3]string, float64) {
	dir, err := os.MkdirTemp("", "mlenv-train-test")
	if err != nil {
		panic(err)
	}
	trainPath, validPath := filepath.Join(dir, "train.parquet"), filepath.Join(dir, "valid.parquet")
	if _, err := data.WriteSynthetic(trainPath, data.SynthOptions{Rows: 20000, Seed: 1, MultiHot: true}); err != nil {
		panic(err)
	}
	info, err := data.WriteSynthetic(validPath, data.SynthOptions{Rows: 4000, Seed: 2, MultiHot: true})
	if err != nil {
		panic(err)
	}
	return [3]string{dir, trainPath, validPath}, info.BayesAUC
})

// ctrConfig is a small run on the synthetic data: the 13 count features,
// the categorical features with planted crosses, and optionally the tags.
func ctrConfig(t testing.TB, arch string, params map[string]any) Config {
	t.Helper()
	files, _ := synthFiles()
	var feats []data.Feature
	for i := 1; i <= 13; i++ {
		feats = append(feats, data.Feature{Name: "I" + strconv.Itoa(i), Type: data.Numeric, Log: true, Normalize: data.NormStandard})
	}
	for _, c := range []int{1, 2, 6, 9, 14, 17, 20, 22, 23} {
		feats = append(feats, data.Feature{Name: "C" + strconv.Itoa(c), Type: data.Categorical, Vocab: data.Vocab{MinCount: 1, OOVBuckets: 1}})
	}
	feats = append(feats, data.Feature{Name: "tags", Type: data.MultiHot, MaxLen: 5, Vocab: data.Vocab{MinCount: 1, OOVBuckets: 1}})
	for i := range feats {
		feats[i].Column = feats[i].Name
	}
	return Config{
		Name: "test-" + arch, Arch: arch, Params: params,
		Data: Data{
			Train: data.Source{Path: files[1], Format: data.FormatParquet}, Validation: data.Source{Path: files[2], Format: data.FormatParquet},
			Features: feats, Label: data.Label{Name: "label", Type: data.Binary},
			ShuffleBuffer: 4096, Prefetch: 2,
		},
		Optimizer: "adam", LearningRate: 0.003, BatchSize: 256, Epochs: 2, Seed: 7,
	}
}

// writeBars writes n synthetic 10x10 IDX images of three classes (a
// horizontal bar, a vertical bar, both) over noise, with their labels, and
// returns the source.
func writeBars(t *testing.T, dir, name string, n int, seed uint64) data.Source {
	t.Helper()
	const side = 10
	r := rand.New(rand.NewPCG(seed, 3))
	images := binary.BigEndian.AppendUint32([]byte{0, 0, 8, 3}, uint32(n))
	images = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(images, side), side)
	labels := binary.BigEndian.AppendUint32([]byte{0, 0, 8, 1}, uint32(n))
	for range n {
		class := r.IntN(3)
		img := make([]byte, side*side)
		for i := range img {
			img[i] = byte(r.IntN(80))
		}
		row, col := r.IntN(side), r.IntN(side)
		for i := range side {
			if class != 1 {
				img[row*side+i] = 255
			}
			if class != 0 {
				img[i*side+col] = 255
			}
		}
		images = append(images, img...)
		labels = append(labels, byte(class))
	}
	src := data.Source{Path: filepath.Join(dir, name+"-images-idx3-ubyte"), Labels: filepath.Join(dir, name+"-labels-idx1-ubyte"), Format: data.FormatIDX}
	if err := os.WriteFile(src.Path, images, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src.Labels, labels, 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

// imageConfig trains arch on the bar images.
func imageConfig(t *testing.T, arch string, params map[string]any) Config {
	dir := t.TempDir()
	return Config{
		Name: "bars", Arch: arch, Params: params,
		Data: Data{Train: writeBars(t, dir, "train", 3000, 1), Validation: writeBars(t, dir, "valid", 600, 2),
			Features:      []data.Feature{{Name: "image", Column: "image", Type: data.Image, Normalize: data.NormScale}},
			Label:         data.Label{Name: "label", Type: data.Multiclass, NumClasses: 3},
			ShuffleBuffer: 3000, Prefetch: 2},
		Optimizer: "adam", LearningRate: 0.003, BatchSize: 64, Epochs: 3, Seed: 3,
	}
}

// writeCSV writes a CSV file at path with the header line and rows lines
// made by line, and returns it as a source.
func writeCSV(t *testing.T, path, header string, rows int, line func() string) data.Source {
	t.Helper()
	var b strings.Builder
	b.WriteString(header + "\n")
	for range rows {
		b.WriteString(line() + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return data.Source{Path: path, Format: data.FormatCSV, Delimiter: ","}
}
