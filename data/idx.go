package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// The IDX format (as used by MNIST and Fashion-MNIST): two zero bytes, a
// type byte, a dimension count, then each dimension as a big-endian uint32,
// then the values in row-major order. Only unsigned bytes (type 0x08) are
// read, which is what image data sets use.
const idxUbyte = 0x08

// IDX column names: an IDX source has exactly these two.
const (
	IDXImage = "image"
	IDXLabel = "label"
)

// idxFile is an open IDX file positioned at its first value.
type idxFile struct {
	name string
	rc   io.ReadCloser
	dims []int
}

func openIDX(name string) (*idxFile, error) {
	rc, err := openFile(name)
	if err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(rc, hdr[:]); err != nil {
		rc.Close()
		return nil, fmt.Errorf("data: %s: IDX header: %w", name, err)
	}
	if hdr[0] != 0 || hdr[1] != 0 || hdr[2] != idxUbyte || hdr[3] == 0 {
		rc.Close()
		return nil, fmt.Errorf("data: %s: not an unsigned-byte IDX file (header % x)", name, hdr)
	}
	dims := make([]uint32, hdr[3])
	if err := binary.Read(rc, binary.BigEndian, dims); err != nil {
		rc.Close()
		return nil, fmt.Errorf("data: %s: IDX dimensions: %w", name, err)
	}
	f := &idxFile{name: name, rc: rc}
	for _, d := range dims {
		f.dims = append(f.dims, int(d))
	}
	return f, nil
}

// readIDXSource streams pairs of image and label files. The image field is
// a Vec of raw pixel values (0-255) with Shape [1, H, W] for 3-dimensional
// files or the per-item dimensions otherwise; the label is a Num.
func readIDXSource(src Source, columns []string, yield func(*Record, error) bool) error {
	have := []string{IDXImage, IDXLabel}
	idx, err := columnIndex(src.Path, have, columns)
	if err != nil {
		return err
	}
	images, err := glob(src.Path)
	if err != nil {
		return err
	}
	labels, err := glob(src.Labels)
	if err != nil {
		return err
	}
	if len(images) != len(labels) {
		return fmt.Errorf("data: %d image files (%s) but %d label files (%s)", len(images), src.Path, len(labels), src.Labels)
	}
	for i := range images {
		more, err := readIDXPair(images[i], labels[i], idx, yield)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func readIDXPair(imageFile, labelFile string, idx []int, yield func(*Record, error) bool) (bool, error) {
	im, err := openIDX(imageFile)
	if err != nil {
		return false, err
	}
	defer im.rc.Close()
	lb, err := openIDX(labelFile)
	if err != nil {
		return false, err
	}
	defer lb.rc.Close()
	if len(im.dims) < 2 || len(lb.dims) != 1 || im.dims[0] != lb.dims[0] {
		return false, fmt.Errorf("data: %s has dimensions %v and %s has %v: want [N, ...] images and [N] labels",
			imageFile, im.dims, labelFile, lb.dims)
	}
	shape := slices.Clone(im.dims[1:])
	if len(shape) == 2 {
		shape = []int{1, shape[0], shape[1]}
	}
	size := 1
	for _, d := range shape {
		size *= d
	}
	pix := make([]byte, size)
	vec := make([]float32, size)
	var label [1]byte
	rec := &Record{File: imageFile, Fields: make([]Field, len(idx))}
	for n := range im.dims[0] {
		rec.Row = int64(n + 1)
		if _, err := io.ReadFull(im.rc, pix); err != nil {
			return false, fmt.Errorf("data: %s: image %d: %w", imageFile, n+1, truncated(err))
		}
		if _, err := io.ReadFull(lb.rc, label[:]); err != nil {
			return false, fmt.Errorf("data: %s: label %d: %w", labelFile, n+1, truncated(err))
		}
		for i, p := range pix {
			vec[i] = float32(p)
		}
		for i, c := range idx {
			if c == 0 {
				rec.Fields[i] = Field{Kind: Vec, Vec: vec, Shape: shape}
			} else {
				rec.Fields[i] = Field{Kind: Num, Num: float64(label[0])}
			}
		}
		if !yield(rec, nil) {
			return false, nil
		}
	}
	return true, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
