package tensor

import (
	"fmt"
	"sync/atomic"
)

// opKind names a primitive op in the gradient-rule table.
type opKind uint8

const (
	opNone opKind = iota
	opAdd
	opSub
	opMul
	opDiv
	opUnary
	opPow
	opSum
	opMax
	opLogSumExp
	opSoftmax
	opLogSoftmax
	opView
	opConcat
	opIndexSelect
	opGather
	opScatterAdd
	opIndexAdd
	opMatMul
	opLinear
	opBCEWithLogits
	opConv2d
	opLayerNorm
	opMaxPool2d
	opAvgPool2d
	numOps
)

// rules is the table of gradient rules: for a tensor t made by op, rule
// reads t.grad and adds each input's gradient into the input's grad.
// Each rule lives next to its op's forward kernel.
var rules = [numOps]struct {
	name     string
	backward func(t *Tensor)
}{
	opAdd:           {"add", backAdd},
	opSub:           {"sub", backSub},
	opMul:           {"mul", backMul},
	opDiv:           {"div", backDiv},
	opUnary:         {"unary", backUnary},
	opPow:           {"pow", backPow},
	opSum:           {"sum", backSum},
	opMax:           {"max", backMax},
	opLogSumExp:     {"logsumexp", backLogSumExp},
	opSoftmax:       {"softmax", backSoftmax},
	opLogSoftmax:    {"logsoftmax", backLogSoftmax},
	opView:          {"view", backView},
	opConcat:        {"concat", backConcat},
	opIndexSelect:   {"indexselect", backIndexSelect},
	opGather:        {"gather", backGather},
	opScatterAdd:    {"scatteradd", backScatterAdd},
	opIndexAdd:      {"indexadd", backIndexAdd},
	opMatMul:        {"matmul", backMatMul},
	opLinear:        {"linear", backLinear},
	opBCEWithLogits: {"bcewithlogits", backBCEWithLogits},
	opConv2d:        {"conv2d", backConv2d},
	opLayerNorm:     {"layernorm", backLayerNorm},
	opMaxPool2d:     {"maxpool2d", backMaxPool2d},
	opAvgPool2d:     {"avgpool2d", backAvgPool2d},
}

// RequiresGrad marks t as a leaf whose gradient Backward should compute and
// returns t. Parameters call it once at creation.
func (t *Tensor) RequiresGrad() *Tensor {
	t.requiresGrad = true
	return t
}

// SetSparseGrad makes Backward deliver the gradient of t as touched rows
// (see Rows) instead of a dense Grad. t must be used only through
// IndexSelect or Lookup along axis 0; Backward panics if another op needs
// a dense gradient for it. Embedding tables use it.
func (t *Tensor) SetSparseGrad() *Tensor {
	t.requiresGrad = true
	t.sparseGrad = true
	return t
}

// NeedsGrad reports whether gradients flow to t.
func (t *Tensor) NeedsGrad() bool { return t.requiresGrad }

// Grad returns the accumulated gradient of t (same shape, contiguous) or nil
// if none has been computed. It is owned by t; optimizers update it in place.
func (t *Tensor) Grad() *Tensor { return t.grad }

// Rows returns the sparse row gradient of a tensor marked with
// SetSparseGrad, or nil.
func (t *Tensor) Rows() *RowGrad { return t.rows }

// ZeroGrad clears the dense and sparse gradients of t, keeping the buffers.
func (t *Tensor) ZeroGrad() {
	if t.grad != nil {
		clear(t.grad.data)
	}
	if t.rows != nil {
		t.rows.reset()
	}
}

// Detach returns a view of t's storage that is not part of any graph.
func (t *Tensor) Detach() *Tensor {
	out := t.arena.tensor()
	*out = Tensor{shape: t.shape, strides: t.strides, offset: t.offset, data: t.data, arena: t.arena}
	return out
}

// record makes out a graph node of op over up to three inputs (nil
// entries allowed) when gradients are enabled and an input requires them.
// It reports whether the node was recorded, so that ops save extra state
// only when needed.
func record(out *Tensor, op opKind, ins ...*Tensor) bool {
	if out.arena != nil && out.arena.noGrad {
		return false
	}
	need := false
	for _, t := range ins {
		need = need || (t != nil && t.requiresGrad)
	}
	if !need {
		return false
	}
	out.requiresGrad = true
	out.op = op
	copy(out.in[:], ins)
	return true
}

// recordMany is record for ops with any number of inputs (concat).
func recordMany(out *Tensor, op opKind, ins []*Tensor) bool {
	if out.arena != nil && out.arena.noGrad {
		return false
	}
	need := false
	for _, t := range ins {
		need = need || t.requiresGrad
	}
	if !need {
		return false
	}
	out.requiresGrad = true
	out.op = op
	out.more = ins
	return true
}

// epoch distinguishes Backward calls so that visit marks need no clearing.
var epoch atomic.Uint32

// Backward computes the gradient of the scalar t with respect to every
// leaf in its graph that requires one (parameters, inputs marked with
// RequiresGrad), adding into their Grad, so gradients accumulate across
// calls until ZeroGrad. Intermediate results keep no gradient afterwards.
// It panics if t has more than one element or does not require a gradient.
func (t *Tensor) Backward() {
	if t.Len() != 1 {
		panic(fmt.Sprintf("tensor: Backward of non-scalar with shape %v", t.shape))
	}
	if !t.requiresGrad {
		panic("tensor: Backward of a tensor that does not require grad")
	}
	order := topoOrder(t)
	g := gradData(t)
	g[0] += 1
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if n.grad != nil {
			rules[n.op].backward(n)
		}
	}
	// Like PyTorch, keep gradients of leaves only, so that a second
	// Backward over the same graph adds the same amounts again.
	for _, n := range order {
		n.grad = nil
	}
}

// frame is a depth-first-search stack entry of topoOrder.
type frame struct {
	t    *Tensor
	next int // index of the next input to visit
}

// topoOrder lists the op nodes reachable from root, inputs before users.
// It reuses the scratch slices of root's arena, if any.
func topoOrder(root *Tensor) []*Tensor {
	mark := epoch.Add(1)
	var order []*Tensor
	var stack []frame
	if ar := root.arena; ar != nil {
		order, stack = ar.order[:0], ar.stack[:0]
		defer func() { ar.order, ar.stack = order, stack[:0] }()
	}
	stack = append(stack, frame{root, 0})
	root.mark = mark
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		ins := f.t.inputs()
		if f.next < len(ins) {
			c := ins[f.next]
			f.next++
			if c != nil && c.requiresGrad && c.op != opNone && c.mark != mark {
				c.mark = mark
				stack = append(stack, frame{c, 0})
			}
			continue
		}
		order = append(order, f.t)
		stack = stack[:len(stack)-1]
	}
	return order
}

// inputs returns the op's inputs; entries may be nil.
func (t *Tensor) inputs() []*Tensor {
	if t.more != nil {
		return t.more
	}
	return t.in[:]
}

// gradData returns t's gradient storage, allocating it zeroed on first use
// (in t's arena for intermediates, on the heap for leaves).
func gradData(t *Tensor) []float32 {
	if t.sparseGrad {
		panic(fmt.Sprintf("tensor: tensor of shape %v has sparse row gradients (SetSparseGrad) but was used by an op other than IndexSelect or Lookup along axis 0", t.shape))
	}
	if t.grad == nil {
		ar := t.arena
		if t.op == opNone {
			ar = nil
		}
		t.grad = newZeros(ar, t.shape)
	}
	return t.grad.data
}

// gradDest returns t's gradient storage for a rule that is about to
// deliver a contribution covering every element. fresh reports that the
// storage was just taken from t's arena uninitialised, so the rule must
// write (not add) its contribution; otherwise it must add. Only
// intermediates get fresh storage: leaf gradients persist across Backward
// calls and are allocated zeroed by gradData.
func gradDest(t *Tensor) (g []float32, fresh bool) {
	if t.grad != nil || t.op == opNone || t.sparseGrad {
		return gradData(t), false
	}
	t.grad = newOut(t.arena, t.shape)
	return t.grad.data, true
}

// passView returns the tensor whose gradient equals x's element for
// element: x's input when x is a view that only renames x's input's
// elements in the same order (Reshape, Unsqueeze, Squeeze), else x. Rules deliver into it directly, skipping
// the view's own rule, which still adds any gradient that other users of
// x deliver later.
func passView(x *Tensor) *Tensor {
	for x.op == opView && wantsGrad(x.in[0]) && x.axis == 0 && x.Len() == x.in[0].Len() {
		want := 1
		for d := len(x.shape) - 1; d >= 0; d-- {
			if x.shape[d] != 1 && x.idx[d] != want {
				return x
			}
			want *= x.shape[d]
		}
		x = x.in[0]
	}
	return x
}

// gradIfWanted returns t's gradient storage if t wants a gradient, else nil.
func gradIfWanted(t *Tensor) []float32 {
	if !wantsGrad(t) {
		return nil
	}
	return gradData(t)
}

// wantsGrad reports whether gradient should be delivered to input t.
func wantsGrad(t *Tensor) bool { return t != nil && t.requiresGrad }
