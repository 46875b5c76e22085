package collective

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
	"unsafe"
)

// Operation codes carried in every message header, so that ranks calling
// different collectives (a program bug) fail with an error, not garbage.
const (
	opAllReduce byte = 1 + iota
	opGatherRows
	opBroadcast
	opBarrier
	opSetup // shared-memory set-up in Join
)

var opNames = map[byte]string{opAllReduce: "all-reduce", opGatherRows: "all-gather-rows", opBroadcast: "broadcast", opBarrier: "barrier", opSetup: "set-up"}

const (
	headerLen = 16
	// smallPayload is the largest payload send writes together with its
	// header.
	smallPayload = 64
	// ioChunk bounds one read or write call, so the per-call deadline holds
	// for any message size. 4 MB took about 10% less CPU time per byte
	// than 1 MB on loopback (fewer system calls and wake-ups), and larger
	// chunks saved nothing more (bench/distributed/README.md).
	ioChunk = 4 << 20
	// socketBuffer is the send and receive buffer size asked of the kernel
	// for ring connections (Linux caps it at net.core.[rw]mem_max).
	socketBuffer = 4 << 20
	// addChunk is the piece of an incoming chunk read and added at a time.
	addChunk = 256 << 10
)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// peer is one ring connection, to the next rank (written) or the previous
// rank (read).
type peer struct {
	conn    net.Conn
	rank    int
	addr    string
	timeout time.Duration
	hdr     [headerLen]byte
}

func newPeer(c net.Conn, rank int, addr string, timeout time.Duration) *peer {
	if tc, ok := c.(*net.TCPConn); ok {
		// Large socket buffers let a whole chunk move per system call.
		tc.SetReadBuffer(socketBuffer)
		tc.SetWriteBuffer(socketBuffer)
	}
	return &peer{conn: c, rank: rank, addr: addr, timeout: timeout}
}

// send writes one message: a header naming op, seq and the payload length,
// then the payload. A small payload goes out in one write with its header:
// one packet and one wake-up of the receiver instead of two, which is
// most of the cost of the synchronisation messages.
func (p *peer) send(op byte, seq uint32, payload []byte) error {
	if len(payload) <= smallPayload {
		var b [headerLen + smallPayload]byte
		putHeader(b[:], op, seq, len(payload))
		n := copy(b[headerLen:], payload)
		return p.write(b[:headerLen+n])
	}
	if err := p.sendHeader(op, seq, len(payload)); err != nil {
		return err
	}
	for len(payload) > 0 {
		n := min(len(payload), ioChunk)
		if err := p.write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
	}
	return nil
}

// sendHeader writes the header of a message of n payload bytes, which the
// caller then writes itself.
func (p *peer) sendHeader(op byte, seq uint32, n int) error {
	var h [headerLen]byte
	putHeader(h[:], op, seq, n)
	return p.write(h[:])
}

// putHeader writes the header of a message of n payload bytes into h.
func putHeader(h []byte, op byte, seq uint32, n int) {
	h[0] = op
	binary.LittleEndian.PutUint32(h[4:8], seq)
	binary.LittleEndian.PutUint64(h[8:headerLen], uint64(n))
}

// write writes b, which is at most ioChunk bytes, under a fresh deadline.
func (p *peer) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p.conn.SetWriteDeadline(time.Now().Add(p.timeout))
	if _, err := p.conn.Write(b); err != nil {
		return p.explain("write to", err)
	}
	return nil
}

// recvHeader reads a message header, checks that it belongs to the same
// collective (op and sequence number) and returns its payload length.
func (p *peer) recvHeader(op byte, seq uint32) (int, error) {
	if err := p.read(p.hdr[:]); err != nil {
		return 0, err
	}
	gotOp, gotSeq := p.hdr[0], binary.LittleEndian.Uint32(p.hdr[4:8])
	if gotOp != op || gotSeq != seq {
		return 0, fmt.Errorf("rank %d is in collective #%d (%s), this rank in #%d (%s): every rank must call the same collectives in the same order",
			p.rank, gotSeq, opName(gotOp), seq, opName(op))
	}
	return int(binary.LittleEndian.Uint64(p.hdr[8:])), nil
}

// recvExact reads a header and checks its payload is want bytes long.
func (p *peer) recvExact(op byte, seq uint32, want int) error {
	n, err := p.recvHeader(op, seq)
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("rank %d sent %d bytes where this rank expects %d: buffer lengths differ between ranks", p.rank, n, want)
	}
	return nil
}

// read fills b, with a fresh deadline per chunk.
func (p *peer) read(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), ioChunk)
		p.conn.SetReadDeadline(time.Now().Add(p.timeout))
		if _, err := io.ReadFull(p.conn, b[:n]); err != nil {
			return p.explain("read from", err)
		}
		b = b[n:]
	}
	return nil
}

// explain turns a network error into one that says what probably happened.
func (p *peer) explain(what string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		hint = ": connection closed (the peer exited or failed)"
	case errors.Is(err, os.ErrDeadlineExceeded):
		hint = fmt.Sprintf(": nothing for %v (the peer hung or died)", p.timeout)
	}
	return fmt.Errorf("%s rank %d (%s): %w%s", what, p.rank, p.addr, err, hint)
}

func opName(op byte) string {
	if s, ok := opNames[op]; ok {
		return s
	}
	return fmt.Sprintf("unknown op %d", op)
}

// floatBytes views f as bytes in native byte order; ranks agree on byte
// order at the rendezvous.
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}
