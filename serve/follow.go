package serve

import (
	"context"
	"fmt"
	"time"
)

// Source tells which version of one model should be served and loads it; a
// registry alias ("fraud@production") is the usual example. Implementations
// live with the registry and the model artifact loader.
type Source interface {
	// Resolve returns the label of the version that should be served now.
	Resolve(ctx context.Context) (string, error)
	// Load loads that version. The model's Metadata().Version should equal
	// the label.
	Load(ctx context.Context, version string) (Model, error)
}

// Follow serves the version src resolves to and keeps following it: every
// interval it resolves again and, when the version changed, loads the new
// one and swaps it in (see Swap), so no request is dropped. A failure after
// the first load is logged and retried at the next interval while the
// current version keeps serving. Follow returns an error if the first load
// fails, and nil once ctx ends.
func (r *Repository) Follow(ctx context.Context, src Source, cfg BatchConfig, interval time.Duration) error {
	current, err := r.follow(ctx, src, cfg, "")
	if err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		next, err := r.follow(ctx, src, cfg, current)
		if err != nil {
			r.log.Error("following model source", "version", current, "err", err)
			continue
		}
		current = next
	}
}

// follow resolves src and, if the version differs from current, loads and
// swaps it in; it returns the version now served.
func (r *Repository) follow(ctx context.Context, src Source, cfg BatchConfig, current string) (string, error) {
	ver, err := src.Resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("resolving model version: %w", err)
	}
	if ver == current {
		return current, nil
	}
	m, err := src.Load(ctx, ver)
	if err != nil {
		return "", fmt.Errorf("loading model version %q: %w", ver, err)
	}
	if err := r.Swap(m, cfg); err != nil {
		return "", err
	}
	r.log.Info("serving model version", "model", m.Metadata().Name, "version", ver, "previous", current)
	return ver, nil
}
