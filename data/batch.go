package data

import "math/rand/v2"

// Batch is a columnar batch of examples, laid out for a model's input
// layers (shapes in brackets, all row-major). The receiver of a Batch owns
// it: the pipeline never touches a Batch again after handing it out.
type Batch struct {
	Size int
	// Dense is [Size * len(Schema.Dense)]: example i's numeric features
	// are Dense[i*nDense : (i+1)*nDense].
	Dense []float32
	// Cat holds one [Size] column of ids per categorical feature.
	Cat [][]int32
	// MultiIDs and MultiOffsets hold, per multi_hot feature, the ids of all
	// examples concatenated and [Size+1] offsets: example i's ids are
	// MultiIDs[f][MultiOffsets[f][i]:MultiOffsets[f][i+1]].
	MultiIDs     [][]int32
	MultiOffsets [][]int32
	// Image is [Size * C * H * W], or nil without an image feature.
	Image []float32
	// Labels is [Size].
	Labels []float32
}

// NewBatch allocates an empty batch with room for n examples of t, to be
// filled with Append: the way to build a batch from examples encoded one at
// a time (Transforms.Encode) outside the loader, as a server does.
func (t *Transforms) NewBatch(n int) *Batch {
	c := t.layout.counts
	b := &Batch{
		Dense:        make([]float32, 0, n*c[groupDense]),
		Cat:          make([][]int32, c[groupCat]),
		MultiIDs:     make([][]int32, c[groupMulti]),
		MultiOffsets: make([][]int32, c[groupMulti]),
		Labels:       make([]float32, 0, n),
	}
	for i := range b.Cat {
		b.Cat[i] = make([]int32, 0, n)
	}
	for i := range b.MultiOffsets {
		b.MultiOffsets[i] = append(make([]int32, 0, n+1), 0)
	}
	if c[groupImage] > 0 {
		for i := range t.Features {
			if t.layout.group[i] == groupImage {
				b.Image = make([]float32, 0, n*shapeSize(t.Features[i].Shape))
			}
		}
	}
	return b
}

// Append appends a copy of ex, an example of the Transforms that made b,
// to b.
func (b *Batch) Append(ex *Example) {
	b.Size++
	b.Dense = append(b.Dense, ex.Dense...)
	for i, id := range ex.Cat {
		b.Cat[i] = append(b.Cat[i], id)
	}
	for i, ids := range ex.Multi {
		b.MultiIDs[i] = append(b.MultiIDs[i], ids...)
		b.MultiOffsets[i] = append(b.MultiOffsets[i], int32(len(b.MultiIDs[i])))
	}
	b.Image = append(b.Image, ex.Image...)
	b.Labels = append(b.Labels, ex.Label)
}

// addRow appends a copy of example i of src, a batch of the same layout.
func (b *Batch) addRow(src *Batch, i int) {
	nDense, nImage := len(src.Dense)/src.Size, len(src.Image)/src.Size
	b.Size++
	b.Dense = append(b.Dense, src.Dense[i*nDense:(i+1)*nDense]...)
	for f, col := range src.Cat {
		b.Cat[f] = append(b.Cat[f], col[i])
	}
	for f, off := range src.MultiOffsets {
		b.MultiIDs[f] = append(b.MultiIDs[f], src.MultiIDs[f][off[i]:off[i+1]]...)
		b.MultiOffsets[f] = append(b.MultiOffsets[f], int32(len(b.MultiIDs[f])))
	}
	b.Image = append(b.Image, src.Image[i*nImage:(i+1)*nImage]...)
	b.Labels = append(b.Labels, src.Labels[i])
}

// shuffleBuffer shuffles a stream with bounded memory: it holds up to size
// items and, once full, hands out a uniformly chosen one for each new item.
type shuffleBuffer[T any] struct {
	items []T
	size  int
	rng   *rand.Rand
}

func newShuffleBuffer[T any](size int, seed, stream uint64) *shuffleBuffer[T] {
	return &shuffleBuffer[T]{items: make([]T, 0, size), size: size, rng: rand.New(rand.NewPCG(seed, stream))}
}

// swap adds x; once the buffer is full it returns a random held item in
// exchange, and ok is true.
func (s *shuffleBuffer[T]) swap(x T) (out T, ok bool) {
	if len(s.items) < s.size {
		s.items = append(s.items, x)
		return out, false
	}
	j := s.rng.IntN(s.size)
	out, s.items[j] = s.items[j], x
	return out, true
}

// drain returns the items still held, in random order, and empties s.
func (s *shuffleBuffer[T]) drain() []T {
	s.rng.Shuffle(len(s.items), func(i, j int) { s.items[i], s.items[j] = s.items[j], s.items[i] })
	out := s.items
	s.items = nil
	return out
}
