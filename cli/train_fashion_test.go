package cli

import (
	"compress/gzip"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The Fashion-MNIST example specs train in CI on a small stand-in for the
// data set, written here in its IDX format, since tests do not install
// Debian's dataset-fashion-mnist: 2,000 training and 500 test images in
// which each of the ten classes is a bright 7x7 patch at its own place on
// a dim noisy background. Both models learn that in the one epoch the test
// trains, so a broken image path through data, model or trainer shows as
// low accuracy, not only as an error.
func TestTrainFashionExamples(t *testing.T) {
	dir := t.TempDir()
	for _, split := range []struct {
		prefix string
		n      int
		seed   uint64
	}{{"train", 2000, 1}, {"t10k", 500, 2}} {
		images, labels := fashionStandIn(split.n, split.seed)
		writeIDXGzip(t, filepath.Join(dir, split.prefix+"-images-idx3-ubyte.gz"), []uint32{uint32(split.n), 28, 28}, images)
		writeIDXGzip(t, filepath.Join(dir, split.prefix+"-labels-idx1-ubyte.gz"), []uint32{uint32(split.n)}, labels)
	}
	epochs := regexp.MustCompile(`(?m)^  epochs: \d+$`)
	accuracy := regexp.MustCompile(`accuracy\s+([01]\.\d+)`)
	for _, name := range []string{"fashion-mlp.yaml", "fashion-cnn.yaml"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(exampleSpec(t, name))
			if err != nil {
				t.Fatal(err)
			}
			spec := strings.ReplaceAll(string(src), "/usr/share/datasets/fashion-mnist", dir)
			spec = epochs.ReplaceAllString(spec, "  epochs: 1")
			work := t.TempDir()
			path := filepath.Join(work, name)
			if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := runCLI(t, "train", path, "--no-tracking",
				"--out", filepath.Join(work, "model"), "--checkpoint-dir", filepath.Join(work, "ck"))
			m := accuracy.FindAllStringSubmatch(out, -1)
			if code != exitOK || m == nil {
				t.Fatalf("code %d, out %q, stderr %q", code, out, stderr)
			}
			if acc, _ := strconv.ParseFloat(m[len(m)-1][1], 64); acc < 0.9 {
				t.Errorf("test accuracy %.4f after one epoch of the stand-in data, want at least 0.9\n%s", acc, out)
			}
		})
	}
}

// fashionStandIn returns n 28x28 images (row-major bytes) and their labels
// 0-9: label k is a bright 7x7 patch at row 7·(k/4), column 7·(k%4) of a
// background of noise below 64.
func fashionStandIn(n int, seed uint64) (images, labels []byte) {
	r := rand.New(rand.NewPCG(seed, 0))
	images, labels = make([]byte, n*28*28), make([]byte, n)
	for i := range n {
		k := r.IntN(10)
		labels[i] = byte(k)
		img := images[i*28*28 : (i+1)*28*28]
		for j := range img {
			img[j] = byte(r.IntN(64))
		}
		for y := range 7 {
			for x := range 7 {
				img[(7*(k/4)+y)*28+7*(k%4)+x] = byte(192 + r.IntN(64))
			}
		}
	}
	return images, labels
}

// writeIDXGzip writes a gzipped IDX file of unsigned bytes (type 0x08)
// with the given dimensions, as the Fashion-MNIST files are stored.
func writeIDXGzip(t *testing.T, path string, dims []uint32, values []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	header := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		header = binary.BigEndian.AppendUint32(header, d)
	}
	if _, err := zw.Write(append(header, values...)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
