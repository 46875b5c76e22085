package collective

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSharedMemoryAllReduceMatchesSerialSum runs shared-memory all-reduces
// of many lengths, one after the other on the same groups (so the staging
// buffers rotate across all-reduces), with staging buffers of 7 floats
// (many chunks, every overlap of the three buffers) and a few of the
// default size.
func TestSharedMemoryAllReduceMatchesSerialSum(t *testing.T) {
	for _, n := range []int{2, 3, 4, 5} {
		for _, stage := range []int{7, shmStageBytes / 4} {
			lengths := []int{0, 1, n - 1, n + 1, stage, 3*stage + 1, 7*stage - 2, 1000}
			if stage > 1000 {
				if n > 3 {
					continue // 12 MB of /dev/shm per rank; keep well inside a container's 64 MB
				}
				lengths = []int{5, stage + n + 1} // one and two chunks of the real size
			}
			groups := joinShm(t, n, 10*time.Second, stage)
			for _, length := range lengths {
				t.Run(fmt.Sprintf("workers=%d/stage=%d/len=%d", n, stage, length), func(t *testing.T) {
					checkAllReduceSum(t, groups, length)
				})
			}
		}
	}
}

// TestSharedMemorySumsInRankOrder checks the documented summation order,
// ((x0 + x1) + x2) + x3, with values whose float32 sum depends on it, and
// that every rank gets the same bits.
func TestSharedMemorySumsInRankOrder(t *testing.T) {
	groups := joinShm(t, 4, 10*time.Second, 3)
	rng := rand.New(rand.NewPCG(3, 4))
	const length = 50
	bufs := make([][]float32, 4)
	for r := range bufs {
		bufs[r] = make([]float32, length)
		for i := range bufs[r] {
			bufs[r][i] = (rng.Float32() - 0.5) * float32(int(1)<<(10*r%24))
		}
	}
	want := make([]float32, length)
	for i := range want {
		want[i] = ((bufs[0][i] + bufs[1][i]) + bufs[2][i]) + bufs[3][i]
	}
	noErrors(t, onAll(groups, func(g *Group) error { return g.AllReduceSum(context.Background(), bufs[g.Rank()]) }))
	for r, b := range bufs {
		for i := range b {
			if b[i] != want[i] {
				t.Fatalf("rank %d element %d: %v, want %v (summed in rank order)", r, i, b[i], want[i])
			}
		}
	}
}

func TestSharedMemoryOffWhenOneRankOptsOut(t *testing.T) {
	groups := joinWith(t, 3, 10*time.Second, func(c *Config) { c.NoSharedMemory = c.Rank == 1 })
	for r, g := range groups {
		if g.SharedMemory() {
			t.Fatalf("rank %d uses shared memory although rank 1 set NoSharedMemory", r)
		}
	}
	checkAllReduceSum(t, groups, 1001)
}

func TestSharedMemorySegmentsAreUnlinkedAfterJoin(t *testing.T) {
	before, _ := filepath.Glob(filepath.Join(shmDir, shmPrefix+"*"))
	groups := joinShm(t, 3, 10*time.Second, 1024)
	after, _ := filepath.Glob(filepath.Join(shmDir, shmPrefix+"*"))
	for _, p := range after {
		if !slices.Contains(before, p) {
			// Another process on this machine may be joining a group
			// right now; only fail for a file that stays.
			time.Sleep(time.Second)
			if _, err := os.Stat(p); err == nil {
				t.Errorf("segment %s still exists after Join", p)
			}
		}
	}
	checkAllReduceSum(t, groups, 10) // the unlinked segments are still mapped
}

// TestOpenPeersRefusesForeignSegments covers what set-up does when ranks
// cannot share memory: a segment that is not there (another host or
// container), one whose token differs (another host's file of the same
// name) and a path outside /dev/shm.
func TestOpenPeersRefusesForeignSegments(t *testing.T) {
	const size = shmHeader + shmBuffers*4*8
	if runtime.GOOS != "linux" {
		t.Skip("the shared-memory transport is Linux-only")
	}
	path, mem, err := createSegment(shmDir, shmPrefix+"test-*", size)
	if err != nil {
		t.Fatal(err)
	}
	defer unmapSegment(mem)
	defer removeSegment(path)
	copy(mem, "0123456789abcdef")
	for _, c := range []struct {
		name, offer, want string
	}{
		{"matching", "0123456789abcdef" + path, ""},
		{"missing", "0123456789abcdef" + path + "-gone", "no such file"},
		{"other token", "0123456789abcdeX" + path, "token differs"},
		{"outside", "0123456789abcdef" + "/etc/passwd", "outside"},
		{"empty", "", "no shared-memory segment"},
	} {
		m := &shmem{stage: 8, segs: make([][]float32, 2), maps: make([][]byte, 2)}
		err := m.openPeers([][]byte{nil, []byte(c.offer)}, 0, size)
		m.close()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: openPeers = %v, want an error containing %q", c.name, err, c.want)
		}
	}
	m := &shmem{segs: make([][]float32, 2), maps: make([][]byte, 2)}
	if err := m.openPeers([][]byte{nil, []byte("0123456789abcdef" + path)}, 0, size+4); err == nil || !strings.Contains(err.Error(), "want") {
		t.Errorf("segment of another size: openPeers = %v, want a size error", err)
	}
}
