// Package collective is mlenv's collective communication for data-parallel
// training: a TCP rendezvous at rank 0's address, a ring of TCP connections
// between the workers, and on top of it ring all-reduce, all-gather of sparse
// embedding rows, broadcast and barrier. When all workers share a host,
// all-reduces go through shared memory instead of the ring's sockets (see
// Group.SharedMemory), synchronised over the ring.
//
// Every worker of a job calls Join with the same world size and rendezvous
// address and its own rank. Collectives must then be called by every rank in
// the same order with matching shapes; a mismatch is detected and reported as
// an error naming both ranks. Every read and write has a deadline, so a dead
// peer turns into an error on every rank instead of a hang, and after the
// first error the Group is broken: it closes its connections (which makes the
// neighbours fail fast too) and every later call returns that error.
package collective

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultTimeout bounds every read and write on the ring and the whole
// rendezvous when Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// ErrBroken is wrapped by every error a Group returns after a failed
// collective: the ring is in an unknown state and the job must restart.
var ErrBroken = errors.New("collective: group broken by an earlier error")

// Config says how one worker joins a group. The zero Timeout means
// DefaultTimeout.
type Config struct {
	Rank       int    // this worker's rank, in [0, Size)
	Size       int    // number of workers (world size), at least 1
	Rendezvous string // host:port where rank 0 listens; every rank uses the same value

	// Timeout bounds the rendezvous and each read or write on the ring. A peer
	// that sends nothing for this long is treated as dead.
	Timeout time.Duration

	// Listener, when set on rank 0, is used for the rendezvous instead of
	// listening on Rendezvous's port; Join closes it when the ring is built.
	// Tests and callers that picked the port themselves set it.
	Listener net.Listener

	// NoSharedMemory keeps all-reduces on the TCP ring even when every
	// rank can map the others' shared memory (same host). By default a
	// group whose ranks all can uses shared memory for all-reduces; a
	// single rank setting NoSharedMemory keeps the whole group on TCP.
	NoSharedMemory bool

	shmStage int // floats per shared-memory staging buffer; 0 means shmStageBytes/4. Tests make it small.
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	switch {
	case c.Size < 1:
		return fmt.Errorf("collective: world size %d: must be at least 1", c.Size)
	case c.Rank < 0 || c.Rank >= c.Size:
		return fmt.Errorf("collective: rank %d: must be in [0, %d)", c.Rank, c.Size)
	case c.Size > 1 && c.Rendezvous == "":
		return errors.New("collective: rendezvous address is empty (want host:port of rank 0)")
	case c.Timeout < 0:
		return fmt.Errorf("collective: timeout %v: must not be negative", c.Timeout)
	}
	if c.Size > 1 {
		if _, _, err := net.SplitHostPort(c.Rendezvous); err != nil {
			return fmt.Errorf("collective: rendezvous address %q: %w", c.Rendezvous, err)
		}
	}
	return nil
}

// Group is one worker's membership of a ring. Its methods are safe for
// concurrent use; collectives run one at a time in the order they were
// called (synchronous calls and Async starts share that order), which must be
// the same on every rank.
type Group struct {
	rank, size int
	timeout    time.Duration
	next, prev *peer     // ring neighbours; nil when size is 1
	scratch    []float32 // receive buffer of the op loop
	chunk      int       // floats per pipelined all-reduce chunk: ioChunk/4; tests make it small
	shm        *shmem    // the shared-memory transport of all-reduces; nil on the TCP ring

	ops  chan *Handle
	done chan struct{} // closed when the op loop exits

	qmu sync.Mutex // held while queueing on ops and while closing it

	mu     sync.Mutex
	seq    uint32
	err    error // first failure; sticky
	closed bool
}

// Join connects this worker to the group described by cfg and returns when
// the ring is built, or with an error once cfg.Timeout (or ctx) expires
// without every rank having arrived. When every rank can map the others'
// shared memory (they share a host) and none set NoSharedMemory, the
// group's all-reduces go through shared memory (see SharedMemory).
func Join(ctx context.Context, cfg Config) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	g := &Group{rank: cfg.Rank, size: cfg.Size, timeout: cfg.Timeout, chunk: ioChunk / 4,
		ops: make(chan *Handle, 64), done: make(chan struct{})}
	if cfg.Size > 1 {
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		next, prev, err := buildRing(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("collective: rank %d of %d: rendezvous at %s: %w", cfg.Rank, cfg.Size, cfg.Rendezvous, err)
		}
		g.next, g.prev = next, prev
		if err := g.startShm(ctx, cfg); err != nil {
			g.closeConns()
			return nil, fmt.Errorf("collective: rank %d of %d: %w", cfg.Rank, cfg.Size, err)
		}
	} else if cfg.Listener != nil {
		cfg.Listener.Close()
	}
	go g.loop()
	return g, nil
}

// Rank returns this worker's rank in [0, Size()).
func (g *Group) Rank() int { return g.rank }

// Size returns the number of workers in the group.
func (g *Group) Size() int { return g.size }

// SharedMemory reports whether the group's all-reduces go through shared
// memory instead of the TCP ring. Every rank of a group reports the same.
func (g *Group) SharedMemory() bool { return g.shm != nil }

// Close closes the ring connections and unmaps the shared memory.
// Collectives queued or running fail with an error wrapping ErrBroken;
// peers see their connection close. Close is idempotent.
func (g *Group) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.mu.Unlock()
	g.closeConns()
	g.qmu.Lock()
	close(g.ops)
	g.qmu.Unlock()
	<-g.done
	if g.shm != nil {
		g.shm.close() // no collective is running any more
	}
	return nil
}

func (g *Group) closeConns() {
	if g.next != nil {
		g.next.conn.Close()
		g.prev.conn.Close()
	}
}

// fail records err as the group's first failure and closes the connections
// so that the neighbours stop waiting on this rank.
func (g *Group) fail(err error) error {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	err = g.err
	g.mu.Unlock()
	g.closeConns()
	return err
}

func (g *Group) broken() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return fmt.Errorf("%w: %w", ErrBroken, g.err)
	}
	if g.closed {
		return fmt.Errorf("%w: group closed", ErrBroken)
	}
	return nil
}

// Handle is a collective started by one of the Async methods. Wait returns
// its result; the buffers passed in must not be touched until it returns.
type Handle struct {
	ctx  context.Context
	name string
	run  func(ctx context.Context, seq uint32) error
	err  error
	done chan struct{}
}

// Wait blocks until the collective has finished and returns its error.
func (h *Handle) Wait() error {
	<-h.done
	return h.err
}

// Done returns a channel closed when the collective has finished.
func (h *Handle) Done() <-chan struct{} { return h.done }

// start queues a collective named name; run does the communication.
func (g *Group) start(ctx context.Context, name string, run func(ctx context.Context, seq uint32) error) *Handle {
	h := &Handle{ctx: ctx, name: name, run: run, done: make(chan struct{})}
	g.qmu.Lock()
	defer g.qmu.Unlock()
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		h.err = fmt.Errorf("collective: rank %d: %s: %w: group closed", g.rank, name, ErrBroken)
		close(h.done)
		return h
	}
	g.ops <- h
	return h
}

// loop runs queued collectives one at a time, in order.
func (g *Group) loop() {
	defer close(g.done)
	for h := range g.ops {
		h.err = g.runOp(h)
		close(h.done)
	}
}

func (g *Group) runOp(h *Handle) error {
	if err := g.broken(); err != nil {
		return fmt.Errorf("collective: rank %d: %s: %w", g.rank, h.name, err)
	}
	if err := h.ctx.Err(); err != nil {
		return g.fail(fmt.Errorf("collective: rank %d: %s: %w", g.rank, h.name, err))
	}
	g.seq++
	// A cancelled context interrupts blocked reads and writes at once.
	stop := context.AfterFunc(h.ctx, func() {
		if g.next != nil {
			g.next.conn.SetDeadline(time.Unix(1, 0))
			g.prev.conn.SetDeadline(time.Unix(1, 0))
		}
	})
	err := h.run(h.ctx, g.seq)
	stop()
	if err != nil {
		if ctxErr := h.ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return g.fail(fmt.Errorf("collective: rank %d: %s: %w", g.rank, h.name, err))
	}
	return nil
}
