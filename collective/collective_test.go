package collective

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// transports are the two ways a group's all-reduces travel; tests of
// behaviour both must share run on each.
var transports = []struct {
	name string
	shm  bool
}{{"tcp", false}, {"shm", true}}

// joinAll starts n workers on loopback and returns their groups, by rank,
// with all-reduces on the TCP ring.
func joinAll(t testing.TB, n int, timeout time.Duration) []*Group {
	t.Helper()
	return joinWith(t, n, timeout, func(c *Config) { c.NoSharedMemory = true })
}

// joinGroups is joinAll with all-reduces through shared memory, in
// staging buffers of 1024 floats, when shm is set.
func joinGroups(t testing.TB, n int, timeout time.Duration, shm bool) []*Group {
	t.Helper()
	if !shm {
		return joinAll(t, n, timeout)
	}
	return joinShm(t, n, timeout, 1024)
}

// joinShm starts n workers whose all-reduces go through shared memory in
// staging buffers of stage floats; it fails the test if they do not use
// it, and skips it where the transport does not exist (not Linux).
func joinShm(t testing.TB, n int, timeout time.Duration, stage int) []*Group {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the shared-memory transport is Linux-only")
	}
	groups := joinWith(t, n, timeout, func(c *Config) { c.shmStage = stage })
	for r, g := range groups {
		if n > 1 && !g.SharedMemory() {
			t.Fatalf("rank %d of %d on one host does not use shared memory (is %s there and has it room?)", r, n, shmDir)
		}
	}
	return groups
}

// joinWith starts n workers on loopback, each with a Config that set
// adjusts, and returns their groups, by rank.
func joinWith(t testing.TB, n int, timeout time.Duration, set func(*Config)) []*Group {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	groups := make([]*Group, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			cfg := Config{Rank: r, Size: n, Rendezvous: l.Addr().String(), Timeout: timeout}
			set(&cfg)
			if r == 0 {
				cfg.Listener = l
			}
			groups[r], errs[r] = Join(context.Background(), cfg)
		})
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: Join: %v", r, err)
		}
	}
	t.Cleanup(func() {
		for _, g := range groups {
			g.Close()
		}
	})
	return groups
}

// onAll runs f on every rank concurrently and returns the errors by rank.
func onAll(groups []*Group, f func(g *Group) error) []error {
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for r, g := range groups {
		wg.Go(func() { errs[r] = f(g) })
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// intVector returns small integer-valued floats, whose sums are exact in
// float32 in any order, so ring results must equal serial sums bit for bit.
func intVector(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.IntN(2001) - 1000)
	}
	return v
}

func TestAllReduceSumMatchesSerialSum(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5} {
		groups := joinAll(t, n, 10*time.Second)
		for _, length := range []int{0, 1, n - 1, n, n + 1, 7, 1000, 3*ioChunk/4 + 13, 2*ioChunk/4 + 1} {
			t.Run(fmt.Sprintf("workers=%d/len=%d", n, length), func(t *testing.T) {
				checkAllReduceSum(t, groups, length)
			})
		}
	}
}

// TestAllReduceSumPipelinesManyChunks cuts segments into chunks of 7
// floats, so that every step travels in many chunks and the pipelined steps
// overlap in every way the ring allows.
func TestAllReduceSumPipelinesManyChunks(t *testing.T) {
	for _, n := range []int{2, 3, 4, 5} {
		groups := joinAll(t, n, 10*time.Second)
		for _, g := range groups {
			g.chunk = 7
		}
		for _, length := range []int{n - 1, 7 * n, 7*n + 1, 1000, 4099} {
			t.Run(fmt.Sprintf("workers=%d/len=%d", n, length), func(t *testing.T) {
				checkAllReduceSum(t, groups, length)
			})
		}
	}
}

// checkAllReduceSum all-reduces random integer vectors of length floats
// over groups and checks every rank's result against the serial sum.
func checkAllReduceSum(t *testing.T, groups []*Group, length int) {
	t.Helper()
	n := len(groups)
	rng := rand.New(rand.NewPCG(uint64(n), uint64(length)))
	bufs := make([][]float32, n)
	want := make([]float32, length)
	for r := range bufs {
		bufs[r] = intVector(rng, length)
		for i, v := range bufs[r] {
			want[i] += v
		}
	}
	noErrors(t, onAll(groups, func(g *Group) error {
		return g.AllReduceSum(context.Background(), bufs[g.Rank()])
	}))
	for r, b := range bufs {
		if !slices.Equal(b, want) {
			t.Fatalf("rank %d: sum differs from the serial sum (first values %v, want %v)", r, b[:min(5, len(b))], want[:min(5, len(want))])
		}
	}
}

func TestAllReduceMeanIsIdenticalOnAllRanks(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { checkMeanIdentical(t, joinGroups(t, 3, 10*time.Second, tr.shm)) })
	}
}

// checkMeanIdentical averages random floats, whose sums round, over 3
// groups and checks the means are close to the serial ones and bitwise
// identical on every rank.
func checkMeanIdentical(t *testing.T, groups []*Group) {
	rng := rand.New(rand.NewPCG(1, 2))
	bufs := make([][]float32, 3)
	for r := range bufs {
		bufs[r] = make([]float32, 101)
		for i := range bufs[r] {
			bufs[r][i] = rng.Float32()
		}
	}
	want := make([]float32, 101)
	for i := range want {
		want[i] = (bufs[0][i] + bufs[1][i] + bufs[2][i]) / 3
	}
	noErrors(t, onAll(groups, func(g *Group) error { return g.AllReduceMean(context.Background(), bufs[g.Rank()]) }))
	for i := range want {
		if d := bufs[0][i] - want[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("element %d: mean %v, want %v", i, bufs[0][i], want[i])
		}
	}
	for r := 1; r < 3; r++ {
		if !slices.Equal(bufs[r], bufs[0]) {
			t.Fatalf("rank %d's mean differs from rank 0's: replicas would drift apart", r)
		}
	}
}

func TestAsyncAllReducesCompleteInCallOrder(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			groups := joinGroups(t, 4, 10*time.Second, tr.shm)
			const k = 10
			bufs := make([][][]float32, len(groups))
			for r := range groups {
				for i := range k {
					bufs[r] = append(bufs[r], []float32{float32(r), float32(i), 1})
				}
			}
			noErrors(t, onAll(groups, func(g *Group) error {
				var hs []*Handle
				for i := range k {
					hs = append(hs, g.AllReduceSumAsync(context.Background(), bufs[g.Rank()][i]))
				}
				for _, h := range hs {
					if err := h.Wait(); err != nil {
						return err
					}
				}
				return nil
			}))
			for r := range groups {
				for i := range k {
					if want := []float32{0 + 1 + 2 + 3, float32(4 * i), 4}; !slices.Equal(bufs[r][i], want) {
						t.Fatalf("rank %d buffer %d: %v, want %v", r, i, bufs[r][i], want)
					}
				}
			}
		})
	}
}

func TestBucketerAveragesEveryGradient(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			groups := joinGroups(t, 3, 10*time.Second, tr.shm)
			sizes := []int{5, 1, 9, 2, 30, 3} // bucket of 8 floats: several buckets, one oversized
			grads := make([][][]float32, 3)
			for r := range grads {
				for i, s := range sizes {
					g := make([]float32, s)
					for j := range g {
						g[j] = float32(3 * (r + i + j))
					}
					grads[r] = append(grads[r], g)
				}
			}
			noErrors(t, onAll(groups, func(g *Group) error {
				b := NewBucketer(g, 8)
				for step := range 2 { // the second step reuses the buffers
					for _, grad := range grads[g.Rank()] {
						if step == 1 {
							for j := range grad {
								grad[j] = float32(3 * (g.Rank() + j))
							}
						}
						b.Add(context.Background(), grad)
					}
					if err := b.Wait(context.Background()); err != nil {
						return err
					}
				}
				return nil
			}))
			for r := range grads {
				for i, grad := range grads[r] {
					for j, v := range grad {
						if want := float32(3 * (1 + j)); v != want { // mean over ranks 0..2 of 3*(r+j)
							t.Fatalf("rank %d grad %d[%d] = %v, want %v", r, i, j, v, want)
						}
					}
				}
			}
		})
	}
}

func TestBroadcastAndBarrier(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		groups := joinAll(t, n, 10*time.Second)
		for _, length := range []int{0, 3, ioChunk/4 + 5} {
			root := n - 1
			bufs := make([][]float32, n)
			for r := range bufs {
				bufs[r] = make([]float32, length)
				for i := range bufs[r] {
					bufs[r][i] = float32(r*1000 + i%1000)
				}
			}
			noErrors(t, onAll(groups, func(g *Group) error {
				if err := g.Broadcast(context.Background(), root, bufs[g.Rank()]); err != nil {
					return err
				}
				return g.Barrier(context.Background())
			}))
			for r := range bufs {
				if !slices.Equal(bufs[r], bufs[root]) {
					t.Fatalf("workers=%d len=%d: rank %d did not receive root %d's buffer", n, length, r, root)
				}
			}
		}
	}
}

func TestAllGatherRowsKeepsRowsSparse(t *testing.T) {
	groups := joinAll(t, 3, 10*time.Second)
	in := []Rows{
		{Dim: 2, Index: []int{7, 1}, Values: []float32{1, 2, 3, 4}},
		{Dim: 2}, // a rank that touched no rows
		{Dim: 2, Index: []int{7}, Values: []float32{10, 20}},
	}
	want := Rows{Dim: 2, Index: []int{7, 1, 7}, Values: []float32{1, 2, 3, 4, 10, 20}}
	got := make([]Rows, 3)
	noErrors(t, onAll(groups, func(g *Group) error {
		var err error
		got[g.Rank()], err = g.AllGatherRows(context.Background(), in[g.Rank()])
		return err
	}))
	for r, rows := range got {
		if !slices.Equal(rows.Index, want.Index) || !slices.Equal(rows.Values, want.Values) {
			t.Fatalf("rank %d gathered %+v, want %+v", r, rows, want)
		}
	}
	c := got[0].Coalesce()
	if !slices.Equal(c.Index, []int{1, 7}) || !slices.Equal(c.Values, []float32{3, 4, 11, 22}) {
		t.Fatalf("Coalesce = %+v, want rows 1:[3 4] 7:[11 22]", c)
	}
}

func TestMismatchedCallsFailWithClearError(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			groups := joinGroups(t, 2, 5*time.Second, tr.shm)
			errs := onAll(groups, func(g *Group) error {
				if g.Rank() == 0 {
					return g.AllReduceSum(context.Background(), make([]float32, 4))
				}
				return g.AllReduceSum(context.Background(), make([]float32, 6))
			})
			for r, err := range errs {
				if err == nil {
					t.Fatalf("rank %d: all-reduce of buffers of different lengths succeeded", r)
				}
			}
			if !strings.Contains(errs[0].Error()+errs[1].Error(), "lengths differ") {
				t.Fatalf("errors do not say the lengths differ: %v / %v", errs[0], errs[1])
			}
			if err := groups[0].Barrier(context.Background()); !errors.Is(err, ErrBroken) {
				t.Fatalf("a collective after a failure = %v, want ErrBroken", err)
			}
		})
	}
}

func TestDifferentCollectivesOnRanksFail(t *testing.T) {
	groups := joinAll(t, 2, 5*time.Second)
	errs := onAll(groups, func(g *Group) error {
		if g.Rank() == 0 {
			return g.Barrier(context.Background())
		}
		return g.AllReduceSum(context.Background(), make([]float32, 3))
	})
	if errs[0] == nil || errs[1] == nil {
		t.Fatalf("barrier against all-reduce: %v / %v, want errors on both ranks", errs[0], errs[1])
	}
	if !strings.Contains(errs[0].Error()+errs[1].Error(), "same collectives in the same order") {
		t.Errorf("errors do not explain the mismatch: %v / %v", errs[0], errs[1])
	}

	groups = joinAll(t, 2, 5*time.Second)
	errs = onAll(groups, func(g *Group) error {
		_, err := g.AllGatherRows(context.Background(), Rows{Dim: 2 + g.Rank()})
		return err
	})
	if errs[0] == nil || errs[1] == nil || !strings.Contains(errs[0].Error()+errs[1].Error(), "of dim") {
		t.Fatalf("rows of different dims: %v / %v, want errors naming the dims", errs[0], errs[1])
	}
}

func TestDeadPeerFailsEveryRankWithinTimeout(t *testing.T) {
	const n, timeout = 4, 2 * time.Second
	for _, c := range []struct {
		dead int
		shm  bool
	}{{0, false}, {2, false}, {0, true}, {2, true}} {
		dead := c.dead
		groups := joinGroups(t, n, timeout, c.shm)
		start := time.Now()
		errs := onAll(groups, func(g *Group) error {
			if g.Rank() == dead {
				return g.Close() // the worker dies before the collective
			}
			return g.AllReduceSum(context.Background(), make([]float32, 1000))
		})
		for r, err := range errs {
			if r == dead {
				continue
			}
			if err == nil {
				t.Fatalf("dead rank %d: rank %d's all-reduce succeeded", dead, r)
			}
		}
		// Not a timing assertion on speed: a hang would exceed the deadline by far.
		if elapsed := time.Since(start); elapsed > 3*timeout {
			t.Fatalf("dead rank %d: ranks returned after %v, more than the %v deadline allows", dead, elapsed, timeout)
		}
	}
}

func TestPeerDyingMidCollectiveFailsEveryRank(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			const n, timeout = 3, 5 * time.Second
			groups := joinGroups(t, n, timeout, tr.shm)
			start := time.Now()
			errs := onAll(groups, func(g *Group) error {
				h := g.AllReduceSumAsync(context.Background(), make([]float32, 16<<20))
				if g.Rank() == 1 {
					time.Sleep(2 * time.Millisecond) // die while the 64 MB are in flight
					g.Close()
				}
				return h.Wait()
			})
			for r, err := range errs {
				if err == nil {
					t.Fatalf("rank %d: all-reduce succeeded although rank 1 died during it", r)
				}
			}
			if elapsed := time.Since(start); elapsed > 3*timeout {
				t.Fatalf("ranks returned after %v, more than the %v deadline allows", elapsed, timeout)
			}
			if !strings.Contains(errs[0].Error()+errs[2].Error(), "rank 1") {
				t.Errorf("errors do not name the dead rank: %v / %v", errs[0], errs[2])
			}
		})
	}
}

func TestHungPeerTimesOut(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			groups := joinGroups(t, 3, 300*time.Millisecond, tr.shm)
			errs := onAll(groups, func(g *Group) error {
				if g.Rank() == 1 {
					return nil // alive but never joins the collective
				}
				return g.AllReduceSum(context.Background(), make([]float32, 10))
			})
			for _, r := range []int{0, 2} {
				if errs[r] == nil {
					t.Fatalf("rank %d: all-reduce with a silent peer succeeded", r)
				}
			}
		})
	}
}

func TestJoinTimesOutWhenWorkersAreMissing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Join(context.Background(), Config{Rank: 0, Size: 3, Rendezvous: l.Addr().String(), Timeout: 200 * time.Millisecond, Listener: l})
	if err == nil || !strings.Contains(err.Error(), "waiting for 2 more worker(s)") {
		t.Fatalf("Join with missing workers = %v, want a timeout naming the 2 missing workers", err)
	}
	_, err = Join(context.Background(), Config{Rank: 1, Size: 2, Rendezvous: l.Addr().String(), Timeout: 200 * time.Millisecond})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with no rank 0 = %v, want a deadline error", err)
	}
}

func TestJoinRejectsDuplicateRank(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfgs := []Config{{Rank: 0, Listener: l}, {Rank: 1}, {Rank: 1}}
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, c := range cfgs {
		c.Size, c.Rendezvous, c.Timeout = 3, l.Addr().String(), 2*time.Second
		wg.Go(func() {
			g, err := Join(context.Background(), c)
			if err == nil {
				g.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "two workers claim rank 1") {
		t.Fatalf("rank 0: %v, want a duplicate-rank error", errs[0])
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Size: 0}, {Rank: 2, Size: 2, Rendezvous: "h:1"}, {Rank: 0, Size: 2}, {Size: 2, Rendezvous: "nohost"}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", c)
		}
	}
}
