package ui

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/mlenv/mlenv/store"
)

// Limits of the metric history cache.
const (
	// CachePoints bounds how many points the cache holds over all series
	// (24 bytes each, so about 100 MB).
	CachePoints = 4 << 20
	// CacheMaxAge bounds how long a cached series is trusted. Within it,
	// points logged at steps after the last cached one are picked up on
	// every request; points logged later at earlier steps (as when a
	// resumed run logs a step again) show once the entry expires.
	CacheMaxAge = 10 * time.Minute
	// tailSteps is how many steps one tail check reads; the store samples
	// longer tails, so those reload the whole series.
	tailSteps = store.MaxBulkIntervalResults
)

// sample is one cached point, in the store's order (step, timestamp,
// value).
type sample struct {
	step, time int64
	value      float64
}

// series is the cached history of one metric of one run.
type series struct {
	id     seriesID
	points []sample
	loaded time.Time
}

type seriesID struct{ run, key string }

// seriesCache keeps the most recently drawn metric histories, so zooming,
// switching the x axis and reopening a run do not reread every point from
// the store. It is safe for concurrent use; two requests for a series
// that is not cached may both read it.
type seriesCache struct {
	mu      sync.Mutex
	budget  int // points
	used    int
	order   *list.List // of *series, most recently used first
	entries map[seriesID]*list.Element
}

func newSeriesCache(budget int) *seriesCache {
	return &seriesCache{budget: budget, order: list.New(), entries: map[seriesID]*list.Element{}}
}

func (c *seriesCache) get(id seriesID) *series {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*series)
}

// put stores s, replacing an older entry of the same series and evicting
// the least recently used ones beyond the budget. A series larger than
// the whole budget is not kept.
func (c *seriesCache) put(s *series) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[s.id]; ok {
		c.used -= len(e.Value.(*series).points)
		c.order.Remove(e)
		delete(c.entries, s.id)
	}
	if len(s.points) > c.budget {
		return
	}
	c.entries[s.id] = c.order.PushFront(s)
	c.used += len(s.points)
	for c.used > c.budget {
		last := c.order.Back()
		old := last.Value.(*series)
		c.order.Remove(last)
		delete(c.entries, old.id)
		c.used -= len(old.points)
	}
}

// load returns every point of one metric of one run: the cached series
// brought up to date when it can be, or a fresh read of the store.
func (h *historyHandler) load(ctx context.Context, id seriesID) ([]sample, error) {
	if s := h.cache.get(id); s != nil && time.Since(s.loaded) < h.maxAge {
		pts, ok, err := h.extend(ctx, s)
		if err != nil || ok {
			return pts, err
		}
	}
	ms, _, err := h.metrics.GetMetricHistory(ctx, store.HistoryRequest{RunID: id.run, Key: id.key})
	if err != nil {
		return nil, err
	}
	pts := make([]sample, len(ms))
	for i, m := range ms {
		pts[i] = sample{m.Step, m.Timestamp, float64(m.Value)}
	}
	h.cache.put(&series{id: id, points: pts, loaded: time.Now()})
	return pts, nil
}

// extend asks the store for the points at and after the last cached step
// and appends the new ones. It reports false when the cached series
// cannot be brought up to date that way (the last step gained points, or
// the tail is too long to read unsampled), so the caller reloads it.
func (h *historyHandler) extend(ctx context.Context, s *series) ([]sample, bool, error) {
	if len(s.points) == 0 {
		return nil, false, nil
	}
	last := s.points[len(s.points)-1].step
	tail, err := h.metrics.GetMetricHistoryBulkInterval(ctx, store.IntervalRequest{RunIDs: []string{s.id.run}, Key: s.id.key,
		StartStep: &last, MaxResults: tailSteps})
	if err != nil {
		return nil, false, err
	}
	atLast := 0
	for i := len(s.points) - 1; i >= 0 && s.points[i].step == last; i-- {
		atLast++
	}
	var fresh []sample
	steps := 0
	for _, m := range tail {
		switch {
		case m.Step == last:
			atLast--
		case len(fresh) == 0 || fresh[len(fresh)-1].step != m.Step:
			steps++
			fallthrough
		default:
			fresh = append(fresh, sample{m.Step, m.Timestamp, float64(m.Value)})
		}
	}
	if atLast != 0 || steps+1 >= tailSteps {
		return nil, false, nil
	}
	if len(fresh) == 0 {
		return s.points, true, nil
	}
	pts := append(s.points[:len(s.points):len(s.points)], fresh...)
	h.cache.put(&series{id: s.id, points: pts, loaded: s.loaded})
	return pts, true, nil
}
