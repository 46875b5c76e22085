package nn_test

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/optim"
	"github.com/mlenv/mlenv/tensor"
)

// TestTrainingStepDoesNotGrowHeap trains a fixed MLP with an arena reset
// every step and checks that, after warm-up, neither the live heap nor the
// bytes allocated per step grow: intermediates and their gradients are
// recycled, parameter gradients and optimizer state persist.
func TestTrainingStepDoesNotGrowHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const batch, in = 64, 32
	model := nn.NewMLP(rng, nn.ReLU, in, 64, 64, 1)
	opt := optim.NewAdam(nn.Tensors(model), optim.AdamConfig{LR: 1e-3})
	xs := tensor.Normal(rng, 0, 1, batch, in).Data()
	ys := make([]float32, batch)
	ar := tensor.NewArena()
	step := func() {
		ar.Reset()
		x, y := ar.FromSlice(xs, batch, in), ar.FromSlice(ys, batch, 1)
		opt.ZeroGrad()
		nn.BCEWithLogits(model.Forward(x), y).Backward()
		opt.Step()
	}
	for range 5 {
		step()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const steps = 200
	for range steps {
		step()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	// One step's intermediates (activations and their gradients) take
	// about 2*batch*(64+64+1) floats; per-step allocation must be a small
	// fraction of that, i.e. they come from the arena.
	intermediates := uint64(2 * batch * (64 + 64 + 1) * 4)
	perStep := (after.TotalAlloc - before.TotalAlloc) / steps
	t.Logf("%d bytes allocated per step (intermediates %d)", perStep, intermediates)
	if perStep > intermediates/4 {
		t.Errorf("%d bytes allocated per step; intermediates are %d bytes, so buffers are not reused", perStep, intermediates)
	}
	if growth := int64(after.HeapAlloc) - int64(before.HeapAlloc); growth > 64<<10 {
		t.Errorf("live heap grew by %d bytes over %d steps", growth, steps)
	}
}
