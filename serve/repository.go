package serve

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Repository holds the loaded models, each with one or more versions, and
// routes inference requests to their batchers. Loading a new version of a
// model makes it the default version at once; unloading or swapping out a
// version stops new requests from reaching it, lets every request already
// admitted to it finish, and only then stops it, so a hot swap drops no
// request. A Repository is safe for concurrent use.
type Repository struct {
	metrics *Metrics
	log     *slog.Logger

	mu     sync.RWMutex
	models map[string][]*version // by name, in load order; the last is the default
	closed bool
}

// version is one loaded model version.
type version struct {
	meta    Metadata
	batcher *batcher
	metrics *versionMetrics
	refs    sync.WaitGroup // requests admitted and not yet answered
}

// Result is the answer to one inference request.
type Result struct {
	Model   string   // model name
	Version string   // the version that ran the request
	Outputs []Tensor // in signature order; rows of a batch share its buffers
}

// NewRepository returns an empty repository that records its metrics in m
// and logs model failures to log. A nil m keeps metrics in a private
// registry that nothing exports; a nil log discards.
func NewRepository(m *Metrics, log *slog.Logger) *Repository {
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	if log == nil {
		log = discardLogger()
	}
	return &Repository{metrics: m, log: log, models: map[string][]*version{}}
}

// Load adds model m, scheduled by cfg, as the default version of its name.
// A loaded version with the same version label is replaced: Load returns
// after the replaced instance has drained.
func (r *Repository) Load(m Model, cfg BatchConfig) error {
	return r.load(m, cfg, func(v *version) bool { return v.meta.Version == m.Metadata().Version })
}

// Swap loads model m, scheduled by cfg, as the only version of its name:
// new requests go to m at once, and every other version drains (its
// admitted requests finish) and is unloaded before Swap returns. It is how a
// moved registry alias is followed without dropping requests.
func (r *Repository) Swap(m Model, cfg BatchConfig) error {
	return r.load(m, cfg, func(*version) bool { return true })
}

// load adds m and drains the versions of its name for which replace is true.
func (r *Repository) load(m Model, cfg BatchConfig, replace func(*version) bool) error {
	meta := m.Metadata()
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("loading model %q: %w", meta.Name, err)
	}
	if err := meta.validate(cfg.batched()); err != nil {
		return fmt.Errorf("loading model: %w", err)
	}
	vm := r.metrics.forVersion(meta.Name, meta.Version)
	v := &version{meta: meta, metrics: vm, batcher: newBatcher(m, meta, cfg, vm, r.log)}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		v.batcher.close()
		return fmt.Errorf("loading model %q: %w: repository closed", meta.Name, ErrUnavailable)
	}
	var old []*version
	kept := slices.DeleteFunc(slices.Clone(r.models[meta.Name]), func(o *version) bool {
		if replace(o) {
			old = append(old, o)
			return true
		}
		return false
	})
	r.models[meta.Name] = append(kept, v)
	r.mu.Unlock()

	for _, o := range old {
		o.drain(o.meta.Version == meta.Version)
	}
	return nil
}

// Unload removes a model version (the default one when ver is empty) and
// returns once its admitted requests have finished.
func (r *Repository) Unload(name, ver string) error {
	r.mu.Lock()
	list := r.models[name]
	i := r.find(list, ver)
	if i < 0 {
		r.mu.Unlock()
		return fmt.Errorf("unloading model %q version %q: %w", name, ver, ErrModelNotFound)
	}
	v := list[i]
	if list = slices.Delete(slices.Clone(list), i, i+1); len(list) == 0 {
		delete(r.models, name)
	} else {
		r.models[name] = list
	}
	r.mu.Unlock()
	v.drain(false)
	return nil
}

// Close unloads every model, letting admitted requests finish; later loads
// and requests fail with ErrUnavailable or ErrModelNotFound.
func (r *Repository) Close() {
	r.mu.Lock()
	r.closed = true
	models := r.models
	r.models = map[string][]*version{}
	r.mu.Unlock()
	for _, list := range models {
		for _, v := range list {
			v.drain(false)
		}
	}
}

// drain waits for the admitted requests, stops the batcher and, unless the
// same label is still loaded (keepMetrics), removes the metric series.
func (v *version) drain(keepMetrics bool) {
	v.refs.Wait()
	v.batcher.close()
	if !keepMetrics {
		v.metrics.remove()
	}
}

// find returns the index of version ver in list (the default, last, one
// when ver is empty), or -1.
func (r *Repository) find(list []*version, ver string) int {
	if ver == "" {
		return len(list) - 1
	}
	return slices.IndexFunc(list, func(v *version) bool { return v.meta.Version == ver })
}

// acquire admits one request to a model version; the caller must call
// v.refs.Done when the request is answered.
func (r *Repository) acquire(name, ver string) (*version, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	list := r.models[name]
	i := r.find(list, ver)
	if i < 0 {
		if ver == "" {
			return nil, fmt.Errorf("%w: no model %q", ErrModelNotFound, name)
		}
		return nil, fmt.Errorf("%w: no version %q of model %q", ErrModelNotFound, ver, name)
	}
	v := list[i]
	v.refs.Add(1)
	return v, nil
}

// Infer runs one request on a model version (the default one when ver is
// empty). inputs may come in any order; they are checked against the
// model's signature (names, datatypes, shapes, element counts, and no NaN or
// Inf unless allowed), queued and, with batching, merged with concurrent
// requests. Errors wrap ErrModelNotFound, ErrBadRequest, ErrQueueFull,
// ErrUnavailable, ErrModelFailed or ctx's error.
func (r *Repository) Infer(ctx context.Context, name, ver string, inputs []Tensor) (res Result, err error) {
	a, err := r.admit(name, ver)
	if err != nil {
		return Result{}, err
	}
	defer func() { a.done(err) }()
	return a.infer(ctx, inputs)
}

// admission is one request admitted to a model version. From admit to done
// it keeps the version loaded, and until it is queued it holds a reserved
// place in the version's queue.
type admission struct {
	v         *version
	start     time.Time
	submitted bool
}

// admit admits one request to a model version (the default one when ver is
// empty) before the request is decoded: it fails at once, with
// ErrModelNotFound or ErrQueueFull, when the version is not loaded or its
// queue is full, so that a server under overload rejects the excess for
// the cost of reading a URL. The caller must call done.
func (r *Repository) admit(name, ver string) (*admission, error) {
	v, err := r.acquire(name, ver)
	if err != nil {
		return nil, err
	}
	v.metrics.requests.Inc()
	if err := v.batcher.reserve(); err != nil {
		code, _ := errorStatus(err)
		v.metrics.failed(code)
		v.refs.Done()
		return nil, err
	}
	return &admission{v: v, start: time.Now()}, nil
}

// infer checks the request's inputs, queues them in the reserved place and
// waits for the outputs; it may be called once.
func (a *admission) infer(ctx context.Context, inputs []Tensor) (Result, error) {
	a.submitted = true
	v := a.v
	ordered, err := v.meta.checkInputs(inputs)
	if c, ok := v.batcher.model.(InputChecker); ok && err == nil {
		err = c.CheckInputs(ordered)
	}
	if err != nil {
		v.batcher.release()
		return Result{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	outputs, err := v.batcher.submit(ctx, ordered)
	if err != nil {
		return Result{}, err
	}
	return Result{Model: v.meta.Name, Version: v.meta.Version, Outputs: outputs}, nil
}

// done ends the request with its final error (nil on success): it gives
// back the queue place of a request that never reached infer, records the
// latency from admission and the error, and lets the version unload.
func (a *admission) done(err error) {
	v := a.v
	if !a.submitted {
		v.batcher.release()
	}
	v.metrics.latency.Observe(time.Since(a.start).Seconds())
	if err != nil {
		code, _ := errorStatus(err)
		v.metrics.failed(code)
	}
	v.refs.Done()
}

// Metadata returns the metadata of a model version (the default one when
// ver is empty) and the labels of all loaded versions of the model.
func (r *Repository) Metadata(name, ver string) (Metadata, []string, error) {
	v, err := r.acquire(name, ver)
	if err != nil {
		return Metadata{}, nil, err
	}
	defer v.refs.Done()
	r.mu.RLock()
	defer r.mu.RUnlock()
	var versions []string
	for _, o := range r.models[name] {
		versions = append(versions, o.meta.Version)
	}
	return v.meta, versions, nil
}

// Ready reports whether a model version (the default one when ver is empty)
// is loaded and accepting requests.
func (r *Repository) Ready(name, ver string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.find(r.models[name], ver) >= 0
}

// Models returns the names of the loaded models, sorted.
func (r *Repository) Models() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.models))
	for name := range r.models {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
