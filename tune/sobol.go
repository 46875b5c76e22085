package tune

import (
	"fmt"
	"math/rand/v2"
)

// joeKuo holds Sobol direction-number initialisers for dimensions 2 to 37
// from S. Joe and F. Y. Kuo, "Constructing Sobol sequences with better
// two-dimensional projections" (2008), file new-joe-kuo-6.21201: the degree
// s of the primitive polynomial, its coefficient word a, and the initial
// odd integers m_1..m_s. Dimension 1 is the van der Corput sequence.
var joeKuo = []struct {
	s, a int
	m    []uint32
}{
	{1, 0, []uint32{1}}, {2, 1, []uint32{1, 3}}, {3, 1, []uint32{1, 3, 1}},
	{3, 2, []uint32{1, 1, 1}}, {4, 1, []uint32{1, 1, 3, 3}}, {4, 4, []uint32{1, 3, 5, 13}},
	{5, 2, []uint32{1, 1, 5, 5, 17}}, {5, 4, []uint32{1, 1, 5, 5, 5}}, {5, 7, []uint32{1, 1, 7, 11, 19}},
	{5, 11, []uint32{1, 1, 5, 1, 1}}, {5, 13, []uint32{1, 1, 1, 3, 11}}, {5, 14, []uint32{1, 3, 5, 5, 31}},
	{6, 1, []uint32{1, 3, 3, 9, 7, 49}}, {6, 13, []uint32{1, 1, 1, 15, 21, 21}},
	{6, 16, []uint32{1, 3, 1, 13, 27, 49}}, {6, 19, []uint32{1, 1, 1, 15, 7, 5}},
	{6, 22, []uint32{1, 3, 1, 15, 13, 25}}, {6, 25, []uint32{1, 1, 5, 5, 19, 61}},
	{7, 1, []uint32{1, 3, 7, 11, 23, 15, 103}}, {7, 4, []uint32{1, 3, 7, 13, 13, 15, 69}},
	{7, 7, []uint32{1, 1, 3, 13, 7, 35, 63}}, {7, 8, []uint32{1, 3, 5, 9, 1, 25, 53}},
	{7, 14, []uint32{1, 3, 1, 13, 9, 35, 107}}, {7, 19, []uint32{1, 3, 1, 5, 27, 61, 31}},
	{7, 21, []uint32{1, 1, 5, 11, 19, 41, 61}}, {7, 28, []uint32{1, 3, 5, 3, 3, 13, 69}},
	{7, 31, []uint32{1, 1, 7, 13, 1, 19, 1}}, {7, 32, []uint32{1, 3, 7, 5, 13, 19, 59}},
	{7, 37, []uint32{1, 1, 3, 9, 25, 29, 41}}, {7, 41, []uint32{1, 3, 5, 13, 23, 1, 55}},
	{7, 42, []uint32{1, 3, 7, 3, 13, 59, 17}}, {7, 50, []uint32{1, 3, 1, 3, 5, 53, 69}},
	{7, 55, []uint32{1, 1, 5, 5, 23, 33, 13}}, {7, 56, []uint32{1, 1, 7, 7, 1, 61, 123}},
	{7, 59, []uint32{1, 1, 7, 9, 13, 61, 49}}, {7, 62, []uint32{1, 3, 3, 5, 3, 55, 33}},
}

// SobolMaxDims is the number of dimensions the Sobol sequence supports.
var SobolMaxDims = len(joeKuo) + 1

const sobolBits = 32

// sobolDirections returns the direction numbers of dimension d (0-based),
// scaled to 32-bit integers.
func sobolDirections(d int) [sobolBits]uint32 {
	var v [sobolBits]uint32
	if d == 0 {
		for k := range v {
			v[k] = 1 << (sobolBits - 1 - k)
		}
		return v
	}
	jk := joeKuo[d-1]
	for k := range v {
		if k < jk.s {
			v[k] = jk.m[k] << (sobolBits - 1 - k)
			continue
		}
		x := v[k-jk.s] ^ (v[k-jk.s] >> jk.s)
		for l := 1; l < jk.s; l++ {
			if (jk.a>>(jk.s-1-l))&1 == 1 {
				x ^= v[k-l]
			}
		}
		v[k] = x
	}
	return v
}

// SobolPoint returns point i of the unscrambled Sobol sequence in dims
// dimensions (at most SobolMaxDims), in Gray-code order as most libraries
// produce it: point 0 is the origin.
func SobolPoint(i uint32, dims int) []float64 {
	if dims > SobolMaxDims {
		panic(fmt.Sprintf("tune: Sobol sequence has at most %d dimensions, asked for %d", SobolMaxDims, dims))
	}
	return sobolPoint(i, dims, nil)
}

// sobolPoint returns point i XOR-ed with shift (a random digital shift, or
// nil for none).
func sobolPoint(i uint32, dims int, shift []uint32) []float64 {
	gray := i ^ (i >> 1)
	out := make([]float64, dims)
	for d := range dims {
		v := sobolDirections(d)
		var x uint32
		for k := 0; gray>>k != 0; k++ {
			if (gray>>k)&1 == 1 {
				x ^= v[k]
			}
		}
		if shift != nil {
			x ^= shift[d]
		}
		out[d] = float64(x) / (1 << sobolBits)
	}
	return out
}

// Sobol is a quasi-random sampler: trial n takes point n of the Sobol
// sequence, one dimension per parameter in declaration order (so at most
// SobolMaxDims parameters), randomised by a digital shift drawn from Seed
// unless NoScramble is set, in which case the origin is skipped. Points
// fill the space more evenly than independent random draws.
type Sobol struct {
	Seed       uint64
	NoScramble bool
	shift      []uint32
}

var _ Sampler = (*Sobol)(nil)

// Sample returns the point numbered by the trials asked so far.
func (s *Sobol) Sample(h History) (Params, error) {
	dims := len(h.Space.params)
	if dims > SobolMaxDims {
		return nil, fmt.Errorf("sobol sampler supports %d parameters, space has %d", SobolMaxDims, dims)
	}
	i := uint32(len(h.Trials))
	if s.NoScramble {
		i++
	} else if s.shift == nil {
		rng := rand.New(rand.NewPCG(s.Seed, 0x736f626f6c)) // "sobol"
		s.shift = make([]uint32, SobolMaxDims)
		for d := range s.shift {
			s.shift[d] = rng.Uint32()
		}
	}
	u := sobolPoint(i, dims, s.shift)
	return h.Space.build(func(p Param) float64 { return p.FromUnit(u[h.Space.index[p.Name]]) }), nil
}
