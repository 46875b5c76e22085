package serve

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// alias is a Source whose version the test moves; loads of versions in
// broken fail.
type alias struct {
	mu       sync.Mutex
	version  string
	broken   map[string]bool
	failures int // loads of broken versions
}

func (a *alias) set(v string) {
	a.mu.Lock()
	a.version = v
	a.mu.Unlock()
}

func (a *alias) Resolve(context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.version, nil
}

func (a *alias) Load(_ context.Context, v string) (Model, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken[v] {
		a.failures++
		return nil, errors.New("artifact is corrupt")
	}
	return newLinear(v, 0), nil
}

func TestFollowSwapsWhenTheAliasMoves(t *testing.T) {
	repo := NewRepository(nil, nil)
	defer repo.Close()
	src := &alias{version: "1", broken: map[string]bool{"2": true}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- repo.Follow(ctx, src, BatchConfig{}, time.Millisecond) }()
	served := func(want string) func() bool {
		return func() bool {
			_, versions, err := repo.Metadata("linear", "")
			return err == nil && len(versions) == 1 && versions[0] == want
		}
	}
	eventually(t, "version 1", served("1"))
	src.set("2") // cannot load: version 1 keeps serving
	eventually(t, "two failed loads", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.failures >= 2
	})
	if !served("1")() {
		t.Fatal("a failed load replaced the serving version")
	}
	src.set("3")
	eventually(t, "version 3", served("3"))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
}

func TestFollowFailsWhenFirstLoadFails(t *testing.T) {
	repo := NewRepository(nil, nil)
	defer repo.Close()
	err := repo.Follow(context.Background(), &alias{version: "2", broken: map[string]bool{"2": true}}, BatchConfig{}, time.Second)
	if err == nil || !strings.Contains(err.Error(), `version "2"`) {
		t.Fatalf("Follow with a broken first version: %v", err)
	}
}
