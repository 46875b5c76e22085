package collective

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/mlenv/mlenv/kernel"
)

// The shared-memory transport. Over loopback TCP every byte an all-reduce
// moves is copied into the kernel by its sender and out of it by its
// receiver, on the same cores that compute (bench/distributed/README.md:
// a 2-worker ring cannot pass about 0.5x a one-way stream on this
// machine). When every rank of a group runs on one host, each rank instead
// maps every rank's staging segment in /dev/shm and the all-reduce becomes
// plain memory copies and additions, as NCCL's intra-node SHM transport
// does. Only the synchronisation travels over the TCP ring, Size-1 8-byte
// messages per rank and staging chunk, so a dead or hung peer fails every
// rank exactly as on the TCP path: through the ring's deadlines and closed
// connections.
const (
	// shmDir is where segments are created: a tmpfs on Linux, so that
	// they are memory, not disk.
	shmDir = "/dev/shm"
	// shmPrefix starts the name of every segment file.
	shmPrefix = "mlenv-collective-"
	// shmStageBytes is the size of one staging buffer. The segment holds
	// shmBuffers of them, whatever the all-reduce's size, so a group of
	// 4 ranks needs 48 MB of /dev/shm (Docker's default is 64 MB). Larger
	// buffers would only save synchronisations, one per buffer copied.
	shmStageBytes = 4 << 20
	// shmBuffers is the number of staging buffers per segment. Chunk k
	// uses buffer k mod 3: a rank writes chunk k+1 before the others have
	// copied out chunk k-1's sums, so three are needed for one
	// synchronisation per chunk (see shmAllReduce).
	shmBuffers = 3
	// shmHeader bytes at the start of a segment hold its token.
	shmHeader  = 64
	tokenBytes = 16
)

// shmem is one rank's view of the group's segments: segs[r] is rank r's
// staging memory, shmBuffers buffers of stage floats. This rank's own
// segment is writable, the others are mapped read-only.
type shmem struct {
	stage int // floats per staging buffer
	segs  [][]float32
	maps  [][]byte  // the mappings behind segs, by rank, for unmapping
	next  int       // staging buffer of the next chunk; continues across all-reduces
	sum   []float32 // cache-sized piece in which reduce adds
}

// close unmaps every segment. The memory is freed once no process maps it.
func (m *shmem) close() {
	for _, b := range m.maps {
		if b != nil {
			unmapSegment(b)
		}
	}
}

// startShm runs setupShm with cfg's staging size, bounded by ctx (the
// rendezvous timeout): when ctx ends first, the ring's connections are
// closed, which fails the set-up on every rank.
func (g *Group) startShm(ctx context.Context, cfg Config) error {
	stage := cfg.shmStage
	if stage == 0 {
		stage = shmStageBytes / 4
	}
	stop := context.AfterFunc(ctx, g.closeConns)
	err := g.setupShm(cfg.NoSharedMemory, stage)
	if !stop() && err == nil {
		err = fmt.Errorf("shared-memory set-up: %w", ctx.Err())
	}
	if err != nil && g.shm != nil {
		g.shm.close()
		g.shm = nil
	}
	return err
}

// setupShm decides, with every other rank, whether the group's all-reduces
// go through shared memory, and if so maps every rank's segment. Each rank
// creates its segment and writes a random token into it; the ranks gather
// every segment's path and token over the ring; each rank opens and maps
// every peer's segment and checks the token; then the ranks gather their
// votes, and only if all of them could map every segment is shared memory
// used. Trying is the only reliable test: ranks with the same host name
// or boot id may still see different /dev/shm (containers on one node),
// and a rank that cannot reserve the memory or opts out (noShm) votes no.
// A rank's segment is unlinked once the votes are in, when every rank has
// mapped it or given up, so nothing is left in /dev/shm if a process dies
// later. Only a failure of the ring itself is returned as an error.
func (g *Group) setupShm(noShm bool, stage int) error {
	m := &shmem{stage: stage, segs: make([][]float32, g.size), maps: make([][]byte, g.size), sum: make([]float32, addChunk/4)}
	size := shmHeader + shmBuffers*4*stage
	var offer []byte
	path := ""
	if !noShm {
		offer, path = createOffer(m, g.rank, size)
	}
	if path != "" {
		defer removeSegment(path)
	}
	offers, err := g.gatherSetup(offer)
	if err != nil {
		m.close()
		return err
	}
	vote := []byte{0}
	if offer != nil && m.openPeers(offers, g.rank, size) == nil {
		vote[0] = 1
	}
	votes, err := g.gatherSetup(vote)
	if err != nil {
		m.close()
		return err
	}
	for _, v := range votes {
		if !bytes.Equal(v, []byte{1}) {
			m.close()
			return nil
		}
	}
	g.shm = m
	return nil
}

// createOffer creates and maps this rank's segment of size bytes and
// returns what the peers need to map it: its token and path. It returns
// nil when the segment cannot be created (no /dev/shm, or no room in it).
func createOffer(m *shmem, rank, size int) (offer []byte, path string) {
	path, mem, err := createSegment(shmDir, shmPrefix+"*", size)
	if err != nil {
		return nil, ""
	}
	m.maps[rank], m.segs[rank] = mem, segmentFloats(mem)
	token := mem[:tokenBytes]
	if _, err := rand.Read(token); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return append(append([]byte(nil), token...), path...), path
}

// openPeers maps every other rank's segment from offers (token, then
// path; by rank) read-only and checks that it is the segment the rank
// created: same size, same token. A path outside shmDir is refused, so a
// peer cannot make this rank map arbitrary files.
func (m *shmem) openPeers(offers [][]byte, rank, size int) error {
	for r, o := range offers {
		if r == rank {
			continue
		}
		if len(o) <= tokenBytes {
			return fmt.Errorf("rank %d has no shared-memory segment", r)
		}
		token, path := o[:tokenBytes], string(o[tokenBytes:])
		if filepath.Dir(path) != shmDir || !strings.HasPrefix(filepath.Base(path), shmPrefix) {
			return fmt.Errorf("rank %d offers segment %q outside %s", r, path, shmDir)
		}
		mem, err := openSegment(path, size)
		if err != nil {
			return fmt.Errorf("rank %d's segment: %w", r, err)
		}
		m.maps[r] = mem
		if !bytes.Equal(mem[:tokenBytes], token) {
			return fmt.Errorf("rank %d's segment %s: token differs (another host's file of the same name?)", r, path)
		}
		m.segs[r] = segmentFloats(mem)
	}
	return nil
}

// segmentFloats views a segment's staging buffers, after its header.
func segmentFloats(mem []byte) []float32 {
	data := mem[shmHeader:]
	return unsafe.Slice((*float32)(unsafe.Pointer(&data[0])), len(data)/4)
}

// maxSetupMessage bounds a set-up message: a token and a path.
const maxSetupMessage = 4096

// gatherSetup sends blob to every rank and returns every rank's blob, by
// rank: Size-1 steps around the ring, each passing on the blob received in
// the step before. The blobs are small enough for the socket buffers, so
// a rank sends before it receives without deadlocking.
func (g *Group) gatherSetup(blob []byte) ([][]byte, error) {
	blobs := make([][]byte, g.size)
	blobs[g.rank] = blob
	for s := range g.size - 1 {
		if err := g.next.send(opSetup, 0, blobs[mod(g.rank-s, g.size)]); err != nil {
			return nil, fmt.Errorf("shared-memory set-up: %w", err)
		}
		in, err := g.recvSetup()
		if err != nil {
			return nil, fmt.Errorf("shared-memory set-up: %w", err)
		}
		blobs[mod(g.rank-s-1, g.size)] = in
	}
	return blobs, nil
}

// recvSetup reads one set-up message from the previous rank.
func (g *Group) recvSetup() ([]byte, error) {
	n, err := g.prev.recvHeader(opSetup, 0)
	if err != nil {
		return nil, err
	}
	if n > maxSetupMessage {
		return nil, fmt.Errorf("rank %d sent a %d-byte set-up message, at most %d expected", g.prev.rank, n, maxSetupMessage)
	}
	in := make([]byte, n)
	return in, g.prev.read(in)
}

// shmAllReduce sums buf over all ranks through the segments. buf is cut
// into chunks of one staging buffer; for chunk k every rank
//
//  1. copies chunk k of buf into its staging buffer k mod 3, except its
//     own slice r, which only it reads (from buf);
//  2. synchronises (all ranks have written chunk k);
//  3. copies the slices of chunk k-1 that the other ranks summed from
//     their segments into buf;
//  4. sums its own slice r of chunk k over all ranks' staging buffers, in
//     rank order, into buf and back into its own staging buffer, where the
//     others copy it from in their step 3 of chunk k+1.
//
// Step 1 of chunk k+1 happens right after step 4 of chunk k, before the
// next synchronisation, while other ranks may still be in step 3 copying
// chunk k-1: hence three staging buffers (buffer k+1 mod 3 was last read
// for chunk k-2, whose copies every rank finished before synchronising
// for chunk k). One more synchronisation ends the all-reduce.
//
// Every element is summed by one rank in rank order, ((x0 + x1) + x2)...,
// and copied to the others, so the result is bitwise identical on every
// rank and does not depend on which rank summed it.
func (g *Group) shmAllReduce(seq uint32, buf []float32) error {
	m := g.shm
	nchunks := max(1, (len(buf)+m.stage-1)/m.stage)
	chunk := func(k int) []float32 { return buf[min(k*m.stage, len(buf)):min((k+1)*m.stage, len(buf))] }
	staging := func(rank, k int) []float32 {
		b := (m.next + k) % shmBuffers
		return m.segs[rank][b*m.stage:][:len(chunk(k))]
	}
	m.stageOthers(g.rank, staging(g.rank, 0), chunk(0))
	for k := range nchunks + 1 {
		if err := g.syncRing(opAllReduce, seq, uint64(len(buf))); err != nil {
			return fmt.Errorf("chunk %d of %d: %w", k+1, nchunks, err)
		}
		if k > 0 {
			m.gather(g.rank, chunk(k-1), func(r int) []float32 { return staging(r, k-1) })
		}
		if k == nchunks {
			break
		}
		m.reduce(g.rank, chunk(k), func(r int) []float32 { return staging(r, k) })
		if k+1 < nchunks {
			m.stageOthers(g.rank, staging(g.rank, k+1), chunk(k+1))
		}
	}
	m.next = (m.next + nchunks) % shmBuffers
	return nil
}

// slice returns the part of a chunk of length n that rank r sums.
func (m *shmem) slice(r, n int) (lo, hi int) {
	size := len(m.segs)
	return r * n / size, (r + 1) * n / size
}

// stageOthers copies the chunk src into this rank's staging buffer dst,
// all but rank's own slice: the other ranks read only their slices.
func (m *shmem) stageOthers(rank int, dst, src []float32) {
	lo, hi := m.slice(rank, len(src))
	copy(dst[:lo], src[:lo])
	copy(dst[hi:], src[hi:])
}

// reduce sums rank's slice of the chunk dst over all ranks, in rank
// order, into dst and into rank's own staging buffer (staging(r) is rank
// r's; this rank's own values are read from dst). It works through pieces
// small enough to stay in cache from the first addition to the copies out.
func (m *shmem) reduce(rank int, dst []float32, staging func(r int) []float32) {
	lo, hi := m.slice(rank, len(dst))
	own := staging(rank)
	for a := lo; a < hi; a += len(m.sum) {
		b := min(a+len(m.sum), hi)
		sum := m.sum[:b-a]
		for r := range m.segs {
			x := staging(r)[a:b]
			if r == rank {
				x = dst[a:b]
			}
			if r == 0 {
				copy(sum, x)
			} else {
				kernel.Axpy(1, x, sum) // 1 x v + y is exactly v + y
			}
		}
		copy(dst[a:b], sum)
		copy(own[a:b], sum)
	}
}

// gather copies the slices of a chunk that the other ranks summed from
// their staging buffers into dst.
func (m *shmem) gather(rank int, dst []float32, staging func(r int) []float32) {
	for r := range m.segs {
		if r != rank {
			lo, hi := m.slice(r, len(dst))
			copy(dst[lo:hi], staging(r)[lo:hi])
		}
	}
}

// syncRing returns once every rank has called it for the same collective:
// Size-1 rounds in which each rank sends an 8-byte word to the next rank
// and receives one from the previous. The word is the all-reduce's buffer
// length (0 for a barrier), checked against the neighbour's so that ranks
// passing buffers of different lengths fail instead of reading past each
// other's data.
func (g *Group) syncRing(op byte, seq uint32, word uint64) error {
	var out, in [8]byte
	binary.LittleEndian.PutUint64(out[:], word)
	for range g.size - 1 {
		if err := g.next.send(op, seq, out[:]); err != nil {
			return err
		}
		if err := g.prev.recvExact(op, seq, len(in)); err != nil {
			return err
		}
		if err := g.prev.read(in[:]); err != nil {
			return err
		}
		if got := binary.LittleEndian.Uint64(in[:]); got != word {
			return fmt.Errorf("rank %d passes %d floats where this rank passes %d: buffer lengths differ between ranks", g.prev.rank, got, word)
		}
	}
	return nil
}
