package train

import (
	"context"
	"fmt"

	"github.com/mlenv/mlenv/collective"
	"github.com/mlenv/mlenv/tensor"
)

// Data-parallel training. Every worker of a Group runs the same Config:
// it fits the same transforms, builds the same model (rank 0's initial
// parameters are broadcast to be sure), reads its shard of the training
// data (row i goes to rank i mod size) and, at every step, the ranks
//
//  1. all-reduce the sizes of their batches, so that all agree on the
//     step's global batch (a rank whose shard is used up contributes an
//     empty batch; the epoch ends when every rank's is empty);
//  2. run forward and backward on their own batch;
//  3. average the dense gradients with ring all-reduces in buckets of
//     bucketFloats, and exchange the sparse (embedding) gradients as rows
//     with an all-gather, never densified;
//  4. clip and step identically, so the parameters stay equal everywhere.
//
// Each rank's gradient is the mean over its own batch, so before averaging
// it is weighted by its batch's share of the global batch: N workers with
// batch b then take the same steps as one worker with batch N*b reading the
// same rows, up to floating-point summation order. Every rank evaluates
// (the validation split is not sharded), so all make the same early-stopping
// decision; only rank 0 logs to the sink, reports progress and writes
// checkpoints and the model artifact. Resume needs a CheckpointDir every
// rank can read, and checks that all ranks resumed at the same step.

// bucketFloats is the size of a gradient all-reduce bucket (4 MiB): small
// enough that several buckets of a large model stream back to back, large
// enough that the per-message overhead stays small.
const bucketFloats = 1 << 20

// parallel is a run's data-parallel state; a run without one trains alone.
type parallel struct {
	g      *collective.Group
	bucket *collective.Bucketer
	params []*tensor.Tensor
	share  []float32 // [batch size, parameters with a gradient], summed over ranks
}

// newParallel returns the data-parallel state for params over g, or nil
// when g has a single worker (or is nil).
func newParallel(g *collective.Group, params []*tensor.Tensor) *parallel {
	if g == nil || g.Size() < 2 {
		return nil
	}
	return &parallel{g: g, bucket: collective.NewBucketer(g, bucketFloats), params: params, share: make([]float32, 2)}
}

// broadcastParameters copies rank 0's parameters to every other rank.
func (p *parallel) broadcastParameters(ctx context.Context) error {
	for i, t := range p.params {
		if err := p.g.Broadcast(ctx, 0, t.Data()); err != nil {
			return fmt.Errorf("train: broadcast parameter %d: %w", i, err)
		}
	}
	return nil
}

// checkStep fails on every rank unless all ranks stand at step: rank 0's
// step is broadcast (as two floats, exact below 2^48) and the ranks that
// differ are counted.
func (p *parallel) checkStep(ctx context.Context, step int) error {
	const split = 1 << 24 // float32 holds integers below 2^24 exactly
	lead := []float32{float32(step / split), float32(step % split)}
	if err := p.g.Broadcast(ctx, 0, lead); err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	leadStep := int(lead[0])*split + int(lead[1])
	differ := []float32{0}
	if leadStep != step {
		differ[0] = 1
	}
	if err := p.g.AllReduceSum(ctx, differ); err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if differ[0] > 0 {
		return fmt.Errorf("train: resume: rank 0 resumed at step %d, %v of %d ranks at another (rank %d at %d): CheckpointDir must be shared by all workers",
			leadStep, differ[0], p.g.Size(), p.g.Rank(), step)
	}
	return nil
}

// globalBatch all-reduces this rank's batch size (0 when its shard is used
// up) and returns the step's global batch size.
func (p *parallel) globalBatch(ctx context.Context, size int) (int, error) {
	p.share[0], p.share[1] = float32(size), float32(p.withGrad())
	local := p.share[1]
	if err := p.g.AllReduceSum(ctx, p.share); err != nil {
		return 0, fmt.Errorf("train: share batch sizes: %w", err)
	}
	if p.share[1] != local*float32(p.g.Size()) {
		return 0, fmt.Errorf("train: rank %d has gradients for %v parameters, other ranks for a different number: every rank must train the same model", p.g.Rank(), local)
	}
	return int(p.share[0]), nil
}

// withGrad counts the parameters that have a dense or sparse gradient;
// a parameter's first backward pass allocates it and later steps keep it.
func (p *parallel) withGrad() int {
	n := 0
	for _, t := range p.params {
		if t.Grad() != nil || t.Rows() != nil {
			n++
		}
	}
	return n
}

// reduce replaces every gradient by its average over the global batch of
// total examples, of which this rank's batch held size: dense ones through
// the bucketed all-reduce (started in reverse parameter order, the order
// backward finishes them), sparse ones as rows. The autograd has no
// per-parameter hooks, so communication starts after the backward pass.
func (p *parallel) reduce(ctx context.Context, size, total int) error {
	n := p.g.Size()
	weight := float32(size*n) / float32(total) // 1 when all ranks' batches are equal
	for i := len(p.params) - 1; i >= 0; i-- {
		if g := p.params[i].Grad(); g != nil {
			scale(g.Data(), weight)
			p.bucket.Add(ctx, g.Data())
		}
	}
	for _, t := range p.params {
		if rg := t.Rows(); rg != nil {
			if err := p.gatherRows(ctx, rg, weight, 1/float32(n)); err != nil {
				return err
			}
		}
	}
	if err := p.bucket.Wait(ctx); err != nil {
		return fmt.Errorf("train: all-reduce gradients: %w", err)
	}
	return nil
}

// gatherRows replaces rg by the sum over ranks of each rank's rows scaled
// by weight, times mean: the touched rows of all ranks, each once.
func (p *parallel) gatherRows(ctx context.Context, rg *tensor.RowGrad, weight, mean float32) error {
	scale(rg.Values, weight)
	all, err := p.g.AllGatherRows(ctx, collective.Rows{Index: rg.Index, Values: rg.Values, Dim: rg.Width})
	if err != nil {
		return fmt.Errorf("train: all-gather embedding rows: %w", err)
	}
	all = all.Coalesce()
	scale(all.Values, mean)
	rg.Index, rg.Values = all.Index, all.Values
	return nil
}

// scale multiplies x by s unless s is 1.
func scale(x []float32, s float32) {
	if s == 1 {
		return
	}
	for i := range x {
		x[i] *= s
	}
}

// leader reports whether this run logs and writes files: a single worker
// or rank 0 of a group.
func (r *run) leader() bool { return r.dp == nil || r.dp.g.Rank() == 0 }
