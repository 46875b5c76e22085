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

// worker runs iters timed repetitions (after one warm-up) of mode and has
// the reporting rank print "seconds=S", the mean time of one repetition.
func worker(mode string) error {
	cfg, err := collective.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	size, _ := strconv.Atoi(os.Getenv(envBytes))
	iters, _ := strconv.Atoi(os.Getenv(envIters))
	var once func() error
	switch mode {
	case "allreduce":
		g, err := collective.Join(context.Background(), cfg)
		if err != nil {
			return err
		}
		defer g.Close()
		buf := make([]float32, size/4)
		once = func() error { return g.AllReduceSum(context.Background(), buf) }
	case "stream":
		if once, err = streamer(cfg, size); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if err := once(); err != nil {
		return err
	}
	start := time.Now()
	for range iters {
		if err := once(); err != nil {
			return err
		}
	}
	if cfg.Rank == 0 {
		fmt.Printf("seconds=%g\n", time.Since(start).Seconds()/float64(iters))
	}
	return nil
}

// streamer connects rank 0 and rank 1 over TCP at the rendezvous address
// and returns a function that copies size bytes from rank 1 to rank 0 and
// waits for rank 0's one-byte acknowledgement: the plain-stream baseline.
func streamer(cfg collective.Config, size int) (func() error, error) {
	buf := make([]byte, size)
	ack := make([]byte, 1)
	if cfg.Rank == 0 {
		_, port, _ := net.SplitHostPort(cfg.Rendezvous)
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			return nil, err
		}
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return nil, err
		}
		return func() error {
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			_, err := c.Write(ack)
			return err
		}, nil
	}
	var c net.Conn
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err = net.Dial("tcp", cfg.Rendezvous); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return func() error {
		if _, err := c.Write(buf); err != nil {
			return err
		}
		_, err := io.ReadFull(c, ack)
		return err
	}, nil
}

var secondsRE = regexp.MustCompile(`\[rank 0\] seconds=(\S+)`)

// measure runs mode on workers processes through the local executor and
// returns rank 0's mean seconds per repetition.
func measure(b *testing.B, mode string, workers, size, iters int) float64 {
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
	if m == nil {
		b.Fatalf("no timing in the log:\n%s", log)
	}
	s, _ := strconv.ParseFloat(string(m[1]), 64)
	return s
}

// BenchmarkLoopback reports, per buffer size, the stream copy bandwidth
// between two processes and the all-reduce algorithm bandwidth (size over
// time) and bus bandwidth (algorithm bandwidth x 2(N-1)/N, the bytes each
// rank actually sends) of 2 and 4 worker processes, and the ratio of bus
// bandwidth to stream bandwidth.
func BenchmarkLoopback(b *testing.B) {
	const mb = 1 << 20
	for _, size := range []int{1 * mb, 16 * mb, 64 * mb, 256 * mb} {
		iters := max(2, 256*mb/size/4)
		for range b.N {
			stream := float64(size) / measure(b, "stream", 2, size, iters) / 1e6
			b.Run(fmt.Sprintf("bytes=%dMB/stream", size/mb), func(b *testing.B) {
				b.ReportMetric(stream, "MB/s")
			})
			for _, n := range []int{2, 4} {
				alg := float64(size) / measure(b, "allreduce", n, size, iters) / 1e6
				bus := alg * 2 * float64(n-1) / float64(n)
				b.Run(fmt.Sprintf("bytes=%dMB/allreduce-workers=%d", size/mb, n), func(b *testing.B) {
					b.ReportMetric(alg, "alg-MB/s")
					b.ReportMetric(bus, "bus-MB/s")
					b.ReportMetric(bus/stream, "bus/stream")
				})
			}
		}
	}
}
