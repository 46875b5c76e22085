package ui

import "math"

// Point is one sample of a metric series: X is the step or the timestamp
// in milliseconds, Y the value.
type Point struct {
	X, Y float64
}

// LTTB downsamples pts, which must be ordered by X, to at most n points
// with the Largest-Triangle-Three-Buckets algorithm (Steinarsson, 2013):
// it always keeps the first and the last point and, from each of n-2
// equal buckets in between, the point that forms the largest triangle
// with the point kept from the previous bucket and the mean of the next
// bucket, so spikes and turns survive where averaging would flatten them.
// It returns pts itself when it has at most n points (or n < 3) and a new
// slice otherwise; pts is not modified. Points must have finite values.
func LTTB(pts []Point, n int) []Point {
	if n >= len(pts) || n < 3 {
		return pts
	}
	out := make([]Point, 0, n)
	out = append(out, pts[0])
	// Buckets split the interior points pts[1:len-1] into n-2 parts.
	width := float64(len(pts)-2) / float64(n-2)
	bucket := func(i int) (lo, hi int) {
		lo = 1 + int(math.Floor(float64(i)*width))
		hi = 1 + int(math.Floor(float64(i+1)*width))
		return lo, min(hi, len(pts)-1)
	}
	prev := pts[0]
	for i := range n - 2 {
		lo, hi := bucket(i)
		// The third vertex is the mean of the next bucket, or the last
		// point for the last bucket.
		var next Point
		if i == n-3 {
			next = pts[len(pts)-1]
		} else {
			nlo, nhi := bucket(i + 1)
			next = mean(pts[nlo:nhi])
		}
		best, bestArea := lo, -1.0
		for j := lo; j < hi; j++ {
			p := pts[j]
			area := math.Abs((prev.X-next.X)*(p.Y-prev.Y) - (prev.X-p.X)*(next.Y-prev.Y))
			if area > bestArea {
				best, bestArea = j, area
			}
		}
		prev = pts[best]
		out = append(out, prev)
	}
	return append(out, pts[len(pts)-1])
}

// mean returns the centroid of pts, which must not be empty.
func mean(pts []Point) Point {
	var sx, sy float64
	for _, p := range pts {
		sx += p.X
		sy += p.Y
	}
	k := float64(len(pts))
	return Point{sx / k, sy / k}
}
