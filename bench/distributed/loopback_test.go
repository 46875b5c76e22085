package distributed

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mlenv/mlenv/collective"
	"github.com/mlenv/mlenv/internal/cputime"
	"github.com/mlenv/mlenv/launch"
)

// The benchmark binary doubles as the worker program: the local executor
// re-runs it with envMode set.
const (
	envMode  = "MLENV_BENCH_MODE"
	envBytes = "MLENV_BENCH_BYTES"
	envIters = "MLENV_BENCH_ITERS"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		if err := worker(mode); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// worker runs iters timed repetitions (after one warm-up) of mode. Rank 0
// prints "seconds=S", the mean time of one repetition, and every rank
// "cpu=C", the mean CPU time (user and system) its process spent on one.
func worker(mode string) error {
	cfg, err := collective.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	size, _ := strconv.Atoi(os.Getenv(envBytes))
	iters, _ := strconv.Atoi(os.Getenv(envIters))
	var once func() error
	switch mode {
	case "allreduce", "shm":
		cfg.NoSharedMemory = mode == "allreduce"
		g, err := collective.Join(context.Background(), cfg)
		if err != nil {
			return err
		}
		defer g.Close()
		if g.SharedMemory() != (mode == "shm") {
			return fmt.Errorf("mode %s: the group's shared memory is %v", mode, g.SharedMemory())
		}
		buf := make([]float32, size/4)
		once = func() error { return g.AllReduceSum(context.Background(), buf) }
	case "stream":
		conns, err := pair(cfg, 1)
		if err != nil {
			return err
		}
		defer conns[0].Close()
		once = streamer(conns[0], cfg.Rank, size)
	case "bistream":
		conns, err := pair(cfg, 2)
		if err != nil {
			return err
		}
		defer conns[0].Close()
		defer conns[1].Close()
		// Rank 0 writes on the first connection, rank 1 on the second.
		once = bistreamer(conns[cfg.Rank], conns[1-cfg.Rank], size)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if err := once(); err != nil {
		return err
	}
	start, cpu := time.Now(), cputime.Process()
	for range iters {
		if err := once(); err != nil {
			return err
		}
	}
	if cfg.Rank == 0 {
		fmt.Printf("seconds=%g\n", time.Since(start).Seconds()/float64(iters))
	}
	fmt.Printf("cpu=%g\n", (cputime.Process()-cpu).Seconds()/float64(iters))
	return nil
}

// pair connects rank 0 and rank 1 with n TCP connections at the rendezvous
// address; both ranks get them in the same order.
func pair(cfg collective.Config, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	if cfg.Rank == 0 {
		l, err := net.Listen("tcp", cfg.Rendezvous)
		if err != nil {
			return nil, err
		}
		defer l.Close()
		for range n {
			c, err := l.Accept()
			if err != nil {
				return nil, err
			}
			conns = append(conns, c)
		}
		return conns, nil
	}
	for deadline := time.Now().Add(30 * time.Second); len(conns) < n; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", cfg.Rendezvous)
		if err != nil && time.Now().After(deadline) {
			return nil, err
		}
		if err == nil {
			conns = append(conns, c)
		}
	}
	return conns, nil
}

// streamer returns a function that copies size bytes from rank 1 to rank 0
// over c and waits for rank 0's one-byte acknowledgement: the one-way
// plain-stream baseline.
func streamer(c net.Conn, rank, size int) func() error {
	buf := make([]byte, size)
	ack := make([]byte, 1)
	if rank == 0 {
		return func() error {
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			_, err := c.Write(ack)
			return err
		}
	}
	return func() error {
		if _, err := c.Write(buf); err != nil {
			return err
		}
		_, err := io.ReadFull(c, ack)
		return err
	}
}

// bistreamer returns a function that writes size bytes on out while it
// reads size bytes from in, the other rank doing the same with the two
// connections swapped: the bidirectional baseline, moving the bytes a
// 2-worker all-reduce moves (each rank sends and receives the whole buffer,
// one connection per direction as on the ring) with no reduction.
func bistreamer(out, in net.Conn, size int) func() error {
	obuf, ibuf := make([]byte, size), make([]byte, size)
	return func() error {
		sent := make(chan error, 1)
		go func() {
			_, err := out.Write(obuf)
			sent <- err
		}()
		_, err := io.ReadFull(in, ibuf)
		if werr := <-sent; err == nil {
			err = werr
		}
		return err
	}
}

var (
	secondsRE = regexp.MustCompile(`\[rank 0\] seconds=(\S+)`)
	cpuRE     = regexp.MustCompile(`\[rank \d+\] cpu=(\S+)`)
)

// result is one measurement: the time of one repetition on rank 0 and the
// CPU time of one repetition summed over all ranks' processes.
type result struct{ seconds, cpu float64 }

// measure runs mode on workers processes through the local executor.
func measure(b *testing.B, mode string, workers, size, iters int) result {
	store := &launch.Store{Root: b.TempDir()}
	l := launch.NewLocal(store, workers, nil)
	id, err := l.Submit(context.Background(), launch.JobRequest{Binary: os.Args[0], Workers: workers,
		Env: map[string]string{envMode: mode, envBytes: strconv.Itoa(size), envIters: strconv.Itoa(iters)}})
	if err != nil {
		b.Fatal(err)
	}
	st, err := l.Wait(context.Background(), id)
	log, _ := os.ReadFile(store.LogPath(id))
	if err != nil || st.State != launch.Succeeded {
		b.Fatalf("%s on %d workers: %v %+v\n%s", mode, workers, err, st, log)
	}
	m := secondsRE.FindSubmatch(log)
	cpus := cpuRE.FindAllSubmatch(log, -1)
	if m == nil || len(cpus) != workers {
		b.Fatalf("no timing of rank 0 or not %d CPU times in the log:\n%s", workers, log)
	}
	var r result
	r.seconds, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, c := range cpus {
		v, _ := strconv.ParseFloat(string(c[1]), 64)
		r.cpu += v
	}
	return r
}

// BenchmarkLoopback reports, per buffer size S:
//
//   - stream: S / time of the one-way copy of S bytes between two processes;
//   - bistream: S / time of two processes each sending S bytes to the other
//     at once;
//   - allreduce-workers=N: the all-reduce algorithm bandwidth (S / time) and
//     bus bandwidth (algorithm bandwidth x 2(N-1)/N: the bytes each rank
//     sends, and receives, per second) of N worker processes on the TCP
//     ring, and the bus bandwidth as a ratio of both baselines;
//   - shm-workers=N: the same for the shared-memory transport, which
//     groups on one host use by default (the bus bandwidth keeps the
//     ring's formula, as NCCL reports it for every transport).
//
// Each also reports cpu-ns/B, the CPU time of all its processes per byte
// of S, which depends far less than the bandwidths on what else the
// machine is running; the all-reduces report it as a ratio of both
// baselines too (cpu/stream, cpu/bistream). All modes are measured one
// after the other for each size, so the ratios see roughly the same load.
func BenchmarkLoopback(b *testing.B) {
	const mb = 1 << 20
	for _, size := range []int{1 * mb, 16 * mb, 64 * mb, 256 * mb} {
		iters := max(2, 256*mb/size/4)
		for range b.N {
			run := func(mode string, workers int) (mbps, cpu float64) {
				r := measure(b, mode, workers, size, iters)
				return float64(size) / r.seconds / 1e6, r.cpu / float64(size) * 1e9
			}
			stream, streamCPU := run("stream", 2)
			bistream, bistreamCPU := run("bistream", 2)
			for _, m := range []struct {
				mode      string
				mbps, cpu float64
			}{{"stream", stream, streamCPU}, {"bistream", bistream, bistreamCPU}} {
				b.Run(fmt.Sprintf("bytes=%dMB/%s", size/mb, m.mode), func(b *testing.B) {
					b.ReportMetric(m.mbps, "MB/s")
					b.ReportMetric(m.cpu, "cpu-ns/B")
				})
			}
			for _, c := range []struct {
				mode string
				n    int
			}{{"allreduce", 2}, {"allreduce", 4}, {"shm", 2}, {"shm", 4}} {
				alg, cpu := run(c.mode, c.n)
				bus := alg * 2 * float64(c.n-1) / float64(c.n)
				b.Run(fmt.Sprintf("bytes=%dMB/%s-workers=%d", size/mb, c.mode, c.n), func(b *testing.B) {
					b.ReportMetric(alg, "alg-MB/s")
					b.ReportMetric(bus, "bus-MB/s")
					b.ReportMetric(bus/stream, "bus/stream")
					b.ReportMetric(bus/bistream, "bus/bistream")
					b.ReportMetric(cpu, "cpu-ns/B")
					b.ReportMetric(cpu/streamCPU, "cpu/stream")
					b.ReportMetric(cpu/bistreamCPU, "cpu/bistream")
				})
			}
		}
	}
}
