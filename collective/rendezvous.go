package collective

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// hello is what a worker sends rank 0 at the rendezvous.
type hello struct {
	Rank   int    `json:"rank"`
	Size   int    `json:"size"`
	Addr   string `json:"addr"` // where this worker's ring listener accepts its predecessor
	Little bool   `json:"little_endian"`
}

// roster is rank 0's answer: every rank's ring address, or why it refused.
type roster struct {
	Addrs []string `json:"addrs,omitempty"`
	Error string   `json:"error,omitempty"`
}

// buildRing runs the rendezvous and returns the connections to the next and
// the previous rank on the ring. ctx bounds the whole exchange.
func buildRing(ctx context.Context, cfg Config) (next, prev *peer, err error) {
	ring, err := net.Listen("tcp", ":0")
	if err != nil {
		return nil, nil, fmt.Errorf("ring listener: %w", err)
	}
	defer ring.Close()
	closeOnDone(ctx, ring)
	var addrs []string
	if cfg.Rank == 0 {
		addrs, err = serveRendezvous(ctx, cfg, ring.Addr().(*net.TCPAddr).Port)
	} else {
		addrs, err = joinRendezvous(ctx, cfg, ring.Addr().(*net.TCPAddr).Port)
	}
	if err != nil {
		return nil, nil, err
	}
	nextRank := (cfg.Rank + 1) % cfg.Size
	prevRank := (cfg.Rank + cfg.Size - 1) % cfg.Size
	type dialed struct {
		p   *peer
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		conn, err := dialRetry(ctx, addrs[nextRank])
		if err == nil {
			err = writeIdent(conn, cfg.Rank, cfg.Size)
		}
		ch <- dialed{newPeer(conn, nextRank, addrs[nextRank], cfg.Timeout), err}
	}()
	prev, err = acceptPrev(ring, prevRank, cfg)
	d := <-ch
	if err == nil {
		err = d.err
	}
	if err != nil {
		for _, p := range []*peer{prev, d.p} {
			if p != nil && p.conn != nil {
				p.conn.Close()
			}
		}
		return nil, nil, err
	}
	return d.p, prev, nil
}

// closeOnDone closes c when ctx ends, which unblocks a pending Accept or read.
func closeOnDone(ctx context.Context, c io.Closer) {
	context.AfterFunc(ctx, func() { c.Close() })
}

// serveRendezvous is rank 0's side: it waits for Size-1 hellos and sends
// every worker the full list of ring addresses.
func serveRendezvous(ctx context.Context, cfg Config, ringPort int) ([]string, error) {
	l := cfg.Listener
	if l == nil {
		_, port, _ := net.SplitHostPort(cfg.Rendezvous)
		var err error
		if l, err = net.Listen("tcp", ":"+port); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	defer l.Close()
	closeOnDone(ctx, l)
	addrs := make([]string, cfg.Size)
	conns := make([]net.Conn, 0, cfg.Size-1)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(conns) < cfg.Size-1 {
		c, err := l.Accept()
		if err != nil {
			return nil, fmt.Errorf("waiting for %d more worker(s): %w", cfg.Size-1-len(conns), ctxErr(ctx, err))
		}
		c.SetDeadline(time.Now().Add(cfg.Timeout))
		var h hello
		if err := json.NewDecoder(c).Decode(&h); err != nil {
			c.Close()
			continue // not one of ours (a port scan, a stale worker); keep waiting
		}
		if msg := checkHello(h, cfg.Size, addrs); msg != "" {
			json.NewEncoder(c).Encode(roster{Error: msg})
			c.Close()
			return nil, errors.New(msg)
		}
		addrs[h.Rank] = h.Addr
		if addrs[0] == "" {
			addrs[0] = net.JoinHostPort(c.LocalAddr().(*net.TCPAddr).IP.String(), fmt.Sprint(ringPort))
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if err := json.NewEncoder(c).Encode(roster{Addrs: addrs}); err != nil {
			return nil, fmt.Errorf("sending the roster to %s: %w", c.RemoteAddr(), err)
		}
	}
	return addrs, nil
}

// checkHello returns why rank 0 refuses h, or "".
func checkHello(h hello, size int, addrs []string) string {
	switch {
	case h.Size != size:
		return fmt.Sprintf("rank %d says world size %d, rank 0 says %d", h.Rank, h.Size, size)
	case h.Rank <= 0 || h.Rank >= size:
		return fmt.Sprintf("a worker claims rank %d, want 1..%d", h.Rank, size-1)
	case addrs[h.Rank] != "":
		return fmt.Sprintf("two workers claim rank %d (%s and %s)", h.Rank, addrs[h.Rank], h.Addr)
	case h.Little != littleEndian:
		return fmt.Sprintf("rank %d has a different byte order from rank 0", h.Rank)
	}
	return ""
}

// joinRendezvous is a worker's side: it dials rank 0 (retrying until rank 0
// listens), says hello and reads the roster.
func joinRendezvous(ctx context.Context, cfg Config, ringPort int) ([]string, error) {
	c, err := dialRetry(ctx, cfg.Rendezvous)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	self := net.JoinHostPort(c.LocalAddr().(*net.TCPAddr).IP.String(), fmt.Sprint(ringPort))
	if err := json.NewEncoder(c).Encode(hello{Rank: cfg.Rank, Size: cfg.Size, Addr: self, Little: littleEndian}); err != nil {
		return nil, fmt.Errorf("hello to rank 0: %w", err)
	}
	var r roster
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return nil, fmt.Errorf("waiting for rank 0 to see all %d workers: %w", cfg.Size, ctxErr(ctx, err))
	}
	if r.Error != "" {
		return nil, fmt.Errorf("rank 0 refused: %s", r.Error)
	}
	if len(r.Addrs) != cfg.Size {
		return nil, fmt.Errorf("rank 0 sent %d addresses for %d workers", len(r.Addrs), cfg.Size)
	}
	return r.Addrs, nil
}

// dialRetry dials addr until it answers or ctx ends.
func dialRetry(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	wait := 20 * time.Millisecond
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.(*net.TCPConn).SetNoDelay(true)
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial %s: %w (last error: %v)", addr, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// acceptPrev accepts the ring connection from the previous rank.
func acceptPrev(l net.Listener, prevRank int, cfg Config) (*peer, error) {
	for {
		c, err := l.Accept()
		if err != nil {
			return nil, fmt.Errorf("waiting for rank %d to connect: %w", prevRank, err)
		}
		rank, size, err := readIdent(c, cfg.Timeout)
		if err != nil || rank != prevRank || size != cfg.Size {
			c.Close()
			continue // a stray connection; the real predecessor is still coming
		}
		c.(*net.TCPConn).SetNoDelay(true)
		return newPeer(c, prevRank, c.RemoteAddr().String(), cfg.Timeout), nil
	}
}

func writeIdent(c net.Conn, rank, size int) error {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:4], uint32(rank))
	binary.LittleEndian.PutUint32(b[4:], uint32(size))
	_, err := c.Write(b[:])
	return err
}

func readIdent(c net.Conn, timeout time.Duration) (rank, size int, err error) {
	var b [8]byte
	c.SetReadDeadline(time.Now().Add(timeout))
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, 0, err
	}
	c.SetReadDeadline(time.Time{})
	return int(binary.LittleEndian.Uint32(b[:4])), int(binary.LittleEndian.Uint32(b[4:])), nil
}

// ctxErr prefers ctx's error (a timeout) over the error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
