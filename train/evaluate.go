package train

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// metricNames lists the validation metrics a run reports.
func (r *run) metricNames() []string {
	if _, ok := r.net.(models.Retriever); ok {
		return []string{"loss", "recall@" + strconv.Itoa(r.recallK())}
	}
	switch r.t.Label.Type {
	case data.Binary:
		return []string{"accuracy", "auc", "logloss", "loss"}
	case data.Multiclass:
		return []string{"accuracy", "loss"}
	}
	return []string{"loss", "rmse"}
}

func (r *run) recallK() int {
	if r.cfg.RecallK > 0 {
		return r.cfg.RecallK
	}
	return 10
}

// checkMetric rejects an early-stopping metric that the run does not
// compute.
func (r *run) checkMetric() error {
	m := r.cfg.EarlyStopping.Metric
	if m == "" || slices.Contains(r.metricNames(), m) {
		return nil
	}
	return fmt.Errorf("train: early stopping metric %q is not computed for %s with a %s label (available: %s)",
		m, r.cfg.Arch, r.t.Label.Type, strings.Join(r.metricNames(), ", "))
}

// evaluate computes the validation metrics (or only the training loss
// without validation data), logs them, reports progress and updates the
// early-stopping state.
func (r *run) evaluate(ctx context.Context) error {
	defer r.timed(&r.timing.Eval)()
	r.pos.EvalPending = true // until it finishes, for a checkpoint written on interruption
	metrics := map[string]float64{}
	if r.valid != nil {
		var err error
		if metrics, err = r.validate(ctx); err != nil {
			return err
		}
	}
	r.pos.EvalPending = false
	if r.lossN > 0 {
		metrics["train_loss"] = r.lossSum / float64(r.lossN)
	}
	now := time.Now()
	if err := r.sink.LogMetrics(r.pos.Step, now, metrics); err != nil {
		return fmt.Errorf("train: log metrics: %w", err)
	}
	if r.cfg.Progress != nil {
		p := r.progress(now)
		p.TrainLoss, p.Metrics = metrics["train_loss"], maps.Clone(metrics)
		r.cfg.Progress(p)
	}
	r.last = metrics
	r.lossSum, r.lossN = 0, 0
	r.earlyStop(metrics)
	return nil
}

// progress reports the run's position and pace at now, without metrics.
func (r *run) progress(now time.Time) Progress {
	elapsed, total := now.Sub(r.start), r.totalSteps()
	var remaining time.Duration
	if done := r.pos.Step - r.startStep; done > 0 && r.pos.Step < total {
		remaining = time.Duration(float64(now.Sub(r.loopStart)) / float64(done) * float64(total-r.pos.Step))
	}
	return Progress{Step: r.pos.Step, TotalSteps: total, Epoch: r.pos.Epoch, Examples: r.examples,
		Elapsed: elapsed, Remaining: remaining}
}

// earlyStop updates the best value and the count of evaluations without
// improvement, and marks the run stopped after Patience of them.
func (r *run) earlyStop(metrics map[string]float64) {
	es := r.cfg.EarlyStopping
	v, ok := metrics[es.Metric]
	if es.Metric == "" || !ok || math.IsNaN(v) {
		return
	}
	better := v < r.pos.Best-es.MinDelta
	if es.Mode == "max" {
		v, better = -v, -v < r.pos.Best-es.MinDelta
	}
	if better || !r.pos.HasBest {
		r.pos.Best, r.pos.HasBest, r.pos.Bad = v, true, 0
		return
	}
	r.pos.Bad++
	if r.pos.Bad >= es.Patience {
		r.pos.Stopped = true
		r.log.Info("early stopping", "metric", es.Metric, "step", r.pos.Step, "evaluations_without_improvement", r.pos.Bad)
	}
}

// validate runs the model over the validation split without gradients.
func (r *run) validate(ctx context.Context) (metrics map[string]float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			metrics, err = nil, fmt.Errorf("train: evaluation at step %d: panic in model %s: %v", r.pos.Step, r.cfg.Arch, p)
		}
	}()
	nn.SetTraining(r.net, false)
	defer nn.SetTraining(r.net, true)
	ar := tensor.NewArena()
	ar.SetGrad(false)
	var acc evalAccumulator
	acc.k = r.recallK()
	for b, err := range r.valid.Batches(ctx, 0) {
		if err != nil {
			return nil, fmt.Errorf("train: validation data: %w", err)
		}
		ar.Reset()
		in := models.NewInput(ar, b, r.schema)
		if ret, ok := r.net.(models.Retriever); ok {
			acc.addRetrieval(ret, r.loss(in), in)
			continue
		}
		y := r.net.Forward(in)
		acc.add(r.t.Label, y, labelLoss(r.t.Label, y, in), in)
	}
	return acc.metrics(r.metricNames()), nil
}

// evalAccumulator gathers what the metrics need over validation batches.
type evalAccumulator struct {
	k             int
	lossSum       float64
	n             int
	preds, labels []float32 // binary: probabilities; regression: values
	correct       int
	recallSum     float64
	recallN       int
}

func (a *evalAccumulator) add(l data.Label, y, loss *tensor.Tensor, in *models.Input) {
	a.lossSum += float64(loss.Item()) * float64(in.Size)
	a.n += in.Size
	p := tensor.Contiguous(modelfile.Activate(l, y)).Data()
	switch l.Type {
	case data.Multiclass:
		for i, c := range tensor.Argmax(y, 1) {
			if float32(c) == in.Labels[i] {
				a.correct++
			}
		}
	case data.Binary:
		for i, q := range p {
			if (q >= 0.5) == (in.Labels[i] > 0.5) {
				a.correct++
			}
		}
		fallthrough
	default:
		a.preds = append(a.preds, p...)
		a.labels = append(a.labels, in.Labels...)
	}
}

// addRetrieval adds a retrieval batch: its loss, and recall@k of its
// positive rows against the batch's positive items.
func (a *evalAccumulator) addRetrieval(m models.Retriever, loss *tensor.Tensor, in *models.Input) {
	a.lossSum += float64(loss.Item()) * float64(in.Size)
	a.n += in.Size
	var pos []int
	for i, y := range in.Labels {
		if y > 0.5 {
			pos = append(pos, i)
		}
	}
	if len(pos) == 0 {
		return
	}
	q, it := m.Embed(in)
	q, it = tensor.IndexSelect(q, 0, pos), tensor.IndexSelect(it, 0, pos)
	scores := tensor.Contiguous(tensor.MatMul(q, tensor.Transpose(it, 0, 1))).Data()
	a.recallSum += RecallAtK(scores, len(pos), a.k) * float64(len(pos))
	a.recallN += len(pos)
}

func (a *evalAccumulator) metrics(names []string) map[string]float64 {
	out := map[string]float64{}
	n := float64(max(a.n, 1))
	for _, name := range names {
		switch {
		case name == "loss":
			out[name] = a.lossSum / n
		case name == "accuracy":
			out[name] = float64(a.correct) / n
		case name == "auc":
			out[name] = AUC(a.preds, a.labels)
		case name == "logloss":
			out[name] = LogLoss(a.preds, a.labels)
		case name == "rmse":
			var s float64
			for i, p := range a.preds {
				d := float64(p - a.labels[i])
				s += d * d
			}
			out[name] = math.Sqrt(s / n)
		case strings.HasPrefix(name, "recall@"):
			out[name] = a.recallSum / float64(max(a.recallN, 1))
		}
	}
	return out
}
