package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/explain"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/registry"
	"github.com/mlenv/mlenv/track"
)

func init() { register(newExplainCmd) }

type explainFlags struct {
	model, run, uri, trackingDir string
	data                         string
	examples, steps, baselines   int
	method, baseline             string
	target, workers              int
	seed                         uint64
	asJSON                       bool
	svg                          string
	noLog                        bool
}

func newExplainCmd() *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain (--model DIR|NAME@ALIAS | --run RUN_ID) --data FILE",
		Short: "Rank a model's features by integrated gradients over a data sample",
		Long: `Explain a trained model: integrated gradients of its output (the logit of
a binary label, output --target otherwise) for the first --examples rows of
--data (CSV or Parquet with the training columns), through the model's own
fitted transforms. Numeric features are attributed directly; categorical
and multi_hot features through their embedding vectors, summed per feature.

It prints the features ranked by mean |attribution| and the completeness
check: per example, |sum of attributions - (f(x) - f(baseline))| relative
to |f(x) - f(baseline)|; examples above 1% are recomputed with more steps.

The model is an artifact directory (--model DIR, as mlenv train writes),
the "model" artifact of a tracked run (--run) or the registered model
version an alias points to (--model NAME@ALIAS), from the tracking server
at --uri or, without one, the embedded tracking store in --tracking-dir. For a run, explain.json and
importance.svg are logged under the run's "explain" artifacts and the
completeness errors as its metrics explain.completeness_mean_error and
explain.completeness_max_error (unless --no-log), so the UI shows them.

Baselines: zeros (all-zero inputs and embeddings), mean (the fitted
training means of the numeric features and the mean embedding vectors of
the sample), sample (--baselines random rows of the sample; their
integrated gradients are averaged, as in expected gradients).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runExplain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model artifact directory, or NAME@ALIAS of a registered model")
	fl.StringVar(&f.run, "run", "", "tracked run whose \"model\" artifact to explain")
	fl.StringVar(&f.uri, "uri", os.Getenv("MLFLOW_TRACKING_URI"), "tracking server URI for --run (default $MLFLOW_TRACKING_URI; empty: the embedded store)")
	fl.StringVar(&f.trackingDir, "tracking-dir", ".mlenv", "embedded tracking directory for --run without --uri")
	fl.StringVar(&f.data, "data", "", "CSV or Parquet file of examples to explain")
	fl.IntVar(&f.examples, "examples", 1000, "rows of --data to explain (from the start)")
	fl.IntVar(&f.steps, "steps", explain.DefaultSteps, "path points per example")
	fl.StringVar(&f.method, "method", string(explain.DefaultMethod), "quadrature: gausslegendre, riemann (trapezoid), riemann_left, riemann_right, riemann_middle")
	fl.StringVar(&f.baseline, "baseline", string(explain.BaselineZeros), "baseline: zeros, mean or sample")
	fl.IntVar(&f.baselines, "baselines", 16, "reference rows for --baseline sample")
	fl.IntVar(&f.target, "target", 0, "output column to explain (a class index for multiclass labels)")
	fl.IntVar(&f.workers, "workers", 0, "parallel workers (0: one per CPU)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the reference-row sample")
	fl.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fl.StringVar(&f.svg, "svg", "", "write the importance bar chart to this SVG file")
	fl.BoolVar(&f.noLog, "no-log", false, "with --run, do not log the report and chart as run artifacts")
	return cmd
}

func (f explainFlags) check() (explain.Options, explain.Baseline, error) {
	var opt explain.Options
	switch {
	case (f.model == "") == (f.run == ""):
		return opt, "", usagef("give exactly one of --model and --run")
	case f.data == "":
		return opt, "", usagef("--data: the file of examples to explain is required")
	case f.examples < 1:
		return opt, "", usagef("--examples %d: want at least 1", f.examples)
	case f.steps < 1:
		return opt, "", usagef("--steps %d: want at least 1", f.steps)
	case f.baselines < 1:
		return opt, "", usagef("--baselines %d: want at least 1", f.baselines)
	case f.workers < 0:
		return opt, "", usagef("--workers %d: want 0 (one per CPU) or more", f.workers)
	}
	m, err := explain.ParseMethod(f.method)
	if err != nil {
		return opt, "", usagef("--method: %v", err)
	}
	b, err := explain.ParseBaseline(f.baseline)
	if err != nil {
		return opt, "", usagef("--baseline: %v", err)
	}
	if _, _, err := explain.Nodes(m, f.steps); err != nil {
		return opt, "", usagef("--steps: %v", err)
	}
	return explain.Options{Steps: f.steps, Method: m, Workers: f.workers}, b, nil
}

func runExplain(cmd *cobra.Command, f explainFlags) error {
	opt, baseline, err := f.check()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	dir, logTo, cleanup, err := f.locateModel(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	m, err := modelfile.Load(dir)
	if err != nil {
		return err
	}
	a, err := explain.FromArtifact(m, f.target)
	if err != nil {
		return err
	}
	batch, err := readExamples(ctx, m.Meta.Transforms, f.data, f.examples)
	if err != nil {
		return err
	}
	xs := a.Points(batch)
	var refs [][]float32
	switch baseline {
	case explain.BaselineZeros:
		refs = [][]float32{make([]float32, a.Inputs.Width())}
	case explain.BaselineMean:
		refs = [][]float32{a.TrainingMeans(xs)}
	case explain.BaselineSample:
		refs = explain.Sample(xs, f.baselines, f.seed)
	}
	res, err := explain.Attribute(ctx, a.Model, xs, refs, opt)
	if err != nil {
		return err
	}
	rep := explain.NewReport(res, opt, string(baseline), len(refs))
	if f.svg != "" {
		if err := writeSVG(f.svg, rep); err != nil {
			return err
		}
	}
	if logTo != nil && !f.noLog {
		if err := logExplanation(logTo, rep); err != nil {
			return fmt.Errorf("log the explanation to run %s: %w", f.run, err)
		}
	}
	w := cmd.OutOrStdout()
	if f.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "model %s (%s), %s\n\n", m.Meta.Name, m.Meta.Arch, f.data)
	return rep.WriteTable(w)
}

// readExamples encodes the first n rows of file with the model's
// transforms.
func readExamples(ctx context.Context, t *data.Transforms, file string, n int) (*data.Batch, error) {
	format := data.FormatOf(file)
	if format != data.FormatCSV && format != data.FormatParquet {
		return nil, usagef("--data %s: want a .csv, .csv.gz or .parquet file", file)
	}
	l, err := data.NewLoader(t, data.Source{Path: file, Format: format}, data.LoaderOptions{BatchSize: n})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for b, err := range l.Batches(ctx, 0) {
		if err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("--data %s: no rows", file)
}

func writeSVG(file string, rep explain.Report) error {
	out, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("--svg: %w", err)
	}
	if err := rep.WriteSVG(out, 0); err != nil {
		out.Close()
		return fmt.Errorf("--svg %s: %w", file, err)
	}
	return out.Close()
}

// locateModel returns the artifact directory to load: --model itself,
// or the model artifact of the run given by --run or by the registry
// alias --model NAME@ALIAS, downloaded into a temporary directory, with
// the run's sink for logging the explanation.
func (f explainFlags) locateModel(ctx context.Context) (dir string, sink *trackSink, cleanup func(), err error) {
	name, alias, byAlias := strings.Cut(f.model, "@")
	if _, statErr := os.Stat(f.model); f.model != "" && (!byAlias || statErr == nil) {
		return f.model, nil, func() {}, nil
	}
	uri, stop := f.uri, func() {}
	if uri == "" {
		if uri, stop, err = serveEmbedded(ctx, f.trackingDir); err != nil {
			return "", nil, nil, err
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	c, err := track.NewClient(uri, track.ClientOptions{Retries: 2})
	if err != nil {
		return "", nil, nil, usagef("--uri: %v", err)
	}
	runID, artifactPath := f.run, "model"
	if byAlias {
		v, err := registry.NewClient(c).GetVersionByAlias(ctx, name, alias)
		if err != nil {
			return "", nil, nil, fmt.Errorf("--model %s at %s: %w", f.model, uri, err)
		}
		p, ok := strings.CutPrefix(v.Source, "runs:/"+v.RunID+"/")
		if !ok {
			return "", nil, nil, fmt.Errorf("--model %s: version %s comes from %q, not from a run's artifacts", f.model, v.Version, v.Source)
		}
		runID, artifactPath = v.RunID, p
	}
	run, err := c.GetRun(ctx, runID)
	if err != nil {
		return "", nil, nil, fmt.Errorf("run %s at %s: %w", runID, uri, err)
	}
	tmp, err := os.MkdirTemp("", "mlenv-explain-")
	if err != nil {
		return "", nil, nil, err
	}
	sink = &trackSink{ctx: ctx, client: c, run: run}
	for _, file := range []string{modelfile.MetaFile, modelfile.WeightsFile} {
		if err = sink.download(path.Join(artifactPath, file), filepath.Join(tmp, file)); err != nil {
			os.RemoveAll(tmp)
			return "", nil, nil, fmt.Errorf("run %s: model artifact: %w", runID, err)
		}
	}
	return tmp, sink, func() { os.RemoveAll(tmp); stop() }, nil
}

// download fetches the run artifact at artifactPath into file through the
// server's artifact proxy.
func (s *trackSink) download(artifactPath, file string) error {
	root, ok := strings.CutPrefix(s.run.Info.ArtifactURI, track.ProxyScheme)
	if !ok {
		return fmt.Errorf("run artifacts at %q: only the server's artifact proxy (%s) is supported", s.run.Info.ArtifactURI, track.ProxyScheme)
	}
	return s.client.DownloadArtifact(s.ctx, path.Join(root, artifactPath), file)
}

// logExplanation uploads explain.json and importance.svg under the run's
// "explain" artifacts and logs the completeness errors as the run's
// metrics explain.completeness_mean_error and _max_error.
func logExplanation(sink *trackSink, rep explain.Report) error {
	err := sink.LogMetrics(0, time.Now(), map[string]float64{
		"explain.completeness_mean_error": rep.MeanError,
		"explain.completeness_max_error":  rep.MaxError,
	})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mlenv-explain-out-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "explain.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeSVG(filepath.Join(dir, "importance.svg"), rep); err != nil {
		return err
	}
	return sink.LogArtifact(dir, "explain")
}
