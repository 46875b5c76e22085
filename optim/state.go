package optim

import (
	"fmt"
	"io"
	"strconv"

	"github.com/mlenv/mlenv/tensor"
)

// slot is one kind of per-parameter optimizer state, such as Adam's first
// moments: a buffer per parameter (nil until the first Step) of size(p)
// elements.
type slot struct {
	name string
	bufs *[][]float32
	size func(p *tensor.Tensor) int
}

// stateful is implemented by every optimizer of this package.
type stateful interface {
	parameters() []*tensor.Tensor
	slots() []slot
	steps() *int // the step counter, or nil if the optimizer has none
}

func paramLen(p *tensor.Tensor) int { return p.Len() }

func (o *SGD) slots() []slot { return []slot{{"momentum", &o.buf, paramLen}} }
func (o *SGD) steps() *int   { return nil }

func (o *Adam) slots() []slot {
	return []slot{{"exp_avg", &o.m, paramLen}, {"exp_avg_sq", &o.v, paramLen}}
}
func (o *Adam) steps() *int { return &o.step }

func (o *Adagrad) slots() []slot { return []slot{{"sum", &o.acc, paramLen}} }
func (o *Adagrad) steps() *int   { return nil }

func (o *RowWiseAdagrad) slots() []slot { return []slot{{"row_sum", &o.acc, rowCount}} }
func (o *RowWiseAdagrad) steps() *int   { return nil }

func rowCount(p *tensor.Tensor) int {
	if p.Rank() == 0 {
		return 1
	}
	return p.Dim(0)
}

var (
	_ stateful = (*SGD)(nil)
	_ stateful = (*Adam)(nil)
	_ stateful = (*Adagrad)(nil)
	_ stateful = (*RowWiseAdagrad)(nil)
)

// SaveState writes the optimizer's resumable state (its per-parameter
// buffers, named "<slot>.<parameter index>", the step count and the
// learning rate) to w as safetensors, for checkpoints. It fails for an
// optimizer not from this package.
func SaveState(w io.Writer, o Optimizer) error {
	s, ok := o.(stateful)
	if !ok {
		return fmt.Errorf("optim: SaveState: %T keeps no saveable state", o)
	}
	out := map[string]*tensor.Tensor{}
	for _, sl := range s.slots() {
		for i, b := range *sl.bufs {
			if b != nil {
				out[sl.name+"."+strconv.Itoa(i)] = tensor.FromSlice(b, len(b))
			}
		}
	}
	meta := map[string]string{"lr": strconv.FormatFloat(o.LR(), 'g', -1, 64)}
	if st := s.steps(); st != nil {
		meta["step"] = strconv.Itoa(*st)
	}
	return tensor.WriteSafetensors(w, out, meta)
}

// LoadState restores state written by SaveState into o, which must be the
// same kind of optimizer over parameters of the same sizes. On error (a
// buffer of the wrong size, an unknown entry, bad metadata) o is unchanged.
func LoadState(r io.Reader, o Optimizer) error {
	s, ok := o.(stateful)
	if !ok {
		return fmt.Errorf("optim: LoadState: %T keeps no loadable state", o)
	}
	src, meta, err := tensor.ReadSafetensors(r)
	if err != nil {
		return fmt.Errorf("optim: LoadState: %w", err)
	}
	params := s.parameters()
	known := map[string]bool{}
	for _, sl := range s.slots() {
		for i, p := range params {
			name := sl.name + "." + strconv.Itoa(i)
			known[name] = true
			if t, ok := src[name]; ok && t.Len() != sl.size(p) {
				return fmt.Errorf("optim: LoadState: %q has %d values, parameter %d needs %d", name, t.Len(), i, sl.size(p))
			}
		}
	}
	for name := range src {
		if !known[name] {
			return fmt.Errorf("optim: LoadState: unexpected entry %q", name)
		}
	}
	lr, err := strconv.ParseFloat(meta["lr"], 64)
	if err != nil {
		return fmt.Errorf("optim: LoadState: metadata lr %q: %w", meta["lr"], err)
	}
	step := 0
	if st := s.steps(); st != nil {
		if step, err = strconv.Atoi(meta["step"]); err != nil {
			return fmt.Errorf("optim: LoadState: metadata step %q: %w", meta["step"], err)
		}
		*st = step
	}
	for _, sl := range s.slots() {
		for i := range params {
			(*sl.bufs)[i] = nil
			if t, ok := src[sl.name+"."+strconv.Itoa(i)]; ok {
				(*sl.bufs)[i] = t.Data()
			}
		}
	}
	o.SetLR(lr)
	return nil
}
