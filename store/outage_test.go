package store_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// proxy forwards TCP connections to target until cut, which drops every
// open connection and refuses new ones until restore.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestPostgresOutage cuts the connection to PostgreSQL under a live store
// and checks that writes fail as TEMPORARILY_UNAVAILABLE meanwhile and
// succeed again, without reopening the store, once it is back.
func TestPostgresOutage(t *testing.T) {
	dsn := os.Getenv(storetest.EnvPostgres)
	if dsn == "" {
		t.Skip(storetest.EnvPostgres + " is not set")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	s := storetest.Postgres(t, u.String())
	ctx := context.Background()
	run, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	log := func(step int64) error {
		return s.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Metrics: []store.Metric{{Key: "m", Value: 1, Step: step}}})
	}
	if err := log(0); err != nil {
		t.Fatal(err)
	}
	p.cut()
	if err := log(1); store.CodeOf(err) != store.TemporarilyUnavailable {
		t.Fatalf("write during the outage: %v, want TEMPORARILY_UNAVAILABLE", err)
	}
	p.restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := log(2)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail after PostgreSQL came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hist, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: run.Info.RunID, Key: "m"})
	if err != nil || len(hist) != 2 {
		t.Fatalf("history after the outage: %d points, %v", len(hist), err)
	}
}

func TestWriteAfterClose(t *testing.T) {
	s := storetest.SQLite(t)
	s.Close()
	_, err := s.CreateExperiment(context.Background(), "late", "", nil)
	if store.CodeOf(err) != store.TemporarilyUnavailable {
		t.Fatalf("write after Close: %v, want TEMPORARILY_UNAVAILABLE", err)
	}
}
