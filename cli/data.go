package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/job"
)

func init() { register(newDataCmd) }

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Generate, inspect and check training data and job specs",
	}
	cmd.AddCommand(newDataSynthCmd(), newDataInspectCmd(), newDataValidateSpecCmd(), newDataCheckCmd())
	return cmd
}

func newDataSynthCmd() *cobra.Command {
	var (
		opt      data.SynthOptions
		out      string
		infoPath string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:     "synth --rows N --out FILE.parquet|FILE.csv [--seed S]",
		Aliases: []string{"synth-ctr"},
		Short:   "Write a synthetic click-through data set with a known Bayes-optimal AUC",
		Long: `synth writes a click-through data set (label, counts I1..I13, categories
C1..C26, optionally a multi-hot "tags" list and a "history" sequence of
recent items with a candidate "item") drawn from a fixed generating model
with main effects, dense interactions, low-rank categorical crosses and a
recency-weighted match between history and candidate. The seed draws the
rows: write train and test with different seeds. The file's statistics,
with the Bayes-optimal AUC, go to FILE.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opt.Rows < 1 {
				return usagef("--rows %d: want a positive number of rows", opt.Rows)
			}
			if out == "" {
				return usagef("--out is required")
			}
			if infoPath == "" {
				infoPath = out + ".json"
			}
			info, err := data.WriteSynthetic(out, opt)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(info, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(infoPath, append(b, '\n'), 0o644); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintf(w, "%s\n", b)
				return err
			}
			fmt.Fprintf(w, "wrote %d rows to %s (click rate %.4f)\n", info.Rows, out, info.CTR)
			fmt.Fprintf(w, "Bayes-optimal AUC %.4f (true probability on these labels: %.4f); details in %s\n",
				info.BayesAUC, info.SampleAUC, infoPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opt.Rows, "rows", 100000, "number of rows")
	f.StringVar(&out, "out", "", "output file: .parquet or .csv")
	f.Uint64Var(&opt.Seed, "seed", 1, "seed that draws the rows")
	f.BoolVar(&opt.MultiHot, "multi-hot", false, `add the multi-hot "tags" column`)
	f.BoolVar(&opt.Sequence, "sequence", false, `add the "history" list of recent items and the candidate "item"`)
	f.StringVar(&infoPath, "info", "", "where to write the statistics (default FILE.json)")
	f.BoolVar(&asJSON, "json", false, "print the statistics as JSON")
	return cmd
}

func newDataInspectCmd() *cobra.Command {
	var (
		rows   int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Print a Parquet, CSV or IDX file's columns, row count and first rows",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rows < 0 {
				return usagef("--rows %d: want zero or more", rows)
			}
			info, err := data.Inspect(args[0], rows)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			printFileInfo(w, info)
			return nil
		},
	}
	cmd.Flags().IntVar(&rows, "rows", 5, "number of rows to show")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func printFileInfo(w io.Writer, info *data.FileInfo) {
	fmt.Fprintf(w, "%s: %s, %d rows, %d columns\n", info.Path, info.Format, info.Rows, len(info.Columns))
	if info.BadRows > 0 {
		fmt.Fprintf(w, "%d malformed rows not counted\n", info.BadRows)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLUMN\tTYPE")
	for _, c := range info.Columns {
		fmt.Fprintf(tw, "%s\t%s\n", c.Name, c.Type)
	}
	tw.Flush()
	if len(info.Sample) == 0 {
		return
	}
	fmt.Fprintf(w, "\nfirst %d rows:\n", len(info.Sample))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	names := make([]string, len(info.Columns))
	for i, c := range info.Columns {
		names[i] = c.Name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	for _, row := range info.Sample {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

// loadSpec loads a job spec, printing each problem on its own line to
// stderr, so that a spec with several problems is readable. Any
// architecture in the model registry is valid, custom ones included.
func loadSpec(cmd *cobra.Command, path string) (*job.Spec, error) {
	spec, err := job.Load(path)
	if err == nil {
		return spec, nil
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) < 2 {
		return nil, err
	}
	for _, e := range joined.Unwrap() {
		fmt.Fprintln(cmd.ErrOrStderr(), e)
	}
	return nil, fmt.Errorf("%s: %d problems", path, len(joined.Unwrap()))
}

func newDataValidateSpecCmd() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "validate-spec FILE",
		Short: "Check a job spec and print it resolved, with every default filled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := loadSpec(cmd, args[0])
			if err != nil || quiet {
				return err
			}
			b, err := spec.YAML()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing when the spec is valid")
	return cmd
}

func newDataCheckCmd() *cobra.Command {
	var (
		transformsOut string
		epochs        int
	)
	cmd := &cobra.Command{
		Use:   "check SPEC",
		Short: "Fit a job's feature transforms and read every split through the pipeline",
		Long: `check loads the job spec, fits the feature transforms on data.train in one
pass, then streams each split through the full pipeline (reading, encoding,
shuffling, batching, prefetching) and reports rows, skipped malformed rows
and throughput; --epochs repeats the training split's pass. --transforms-out
writes the fitted transforms as JSON, as they go into a model's model.json.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if epochs < 1 {
				return usagef("--epochs %d: want at least 1", epochs)
			}
			spec, err := loadSpec(cmd, args[0])
			if err != nil {
				return err
			}
			return checkData(cmd.Context(), cmd.OutOrStdout(), spec, transformsOut, epochs)
		},
	}
	cmd.Flags().StringVar(&transformsOut, "transforms-out", "", "write the fitted transforms to this JSON file")
	cmd.Flags().IntVar(&epochs, "epochs", 1, "passes over the training split")
	return cmd
}

func checkData(ctx context.Context, w io.Writer, spec *job.Spec, transformsOut string, epochs int) error {
	d := spec.Data
	skip := d.BadRows == job.BadRowsSkip
	start := time.Now()
	tr, stats, err := data.Fit(ctx, d.Train, d.Features, d.Label, data.FitOptions{SkipBadRows: skip, Seed: uint64(spec.Training.Seed)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "fit on %s: %d rows, %d skipped, %s\n", d.Train.Path, stats.Rows, stats.Skipped, time.Since(start).Round(time.Millisecond))
	printSchema(w, tr.Schema())
	if transformsOut != "" {
		b, err := json.MarshalIndent(tr, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(transformsOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote the fitted transforms to %s\n", transformsOut)
	}
	for _, split := range []struct {
		name   string
		src    data.Source
		epochs int
	}{{"train", d.Train, epochs}, {"validation", d.Validation, 1}, {"test", d.Test, 1}} {
		if split.src.Path == "" {
			continue
		}
		shuffle := 0
		if split.name == "train" {
			shuffle = d.ShuffleBuffer
		}
		l, err := data.NewLoader(tr, split.src, data.LoaderOptions{BatchSize: spec.Training.BatchSize,
			ShuffleBuffer: shuffle, Seed: uint64(spec.Training.Seed), Prefetch: d.Prefetch, SkipBadRows: skip,
			InMemory: d.InMemory})
		if err != nil {
			return err
		}
		for epoch := range split.epochs {
			if err := checkPass(ctx, w, l, split.name, epoch, split.epochs > 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPass runs one pass of l and prints what it delivered.
func checkPass(ctx context.Context, w io.Writer, l *data.Loader, split string, epoch int, numbered bool) error {
	before := l.Stats()
	start := time.Now()
	batches := 0
	for _, err := range l.Batches(ctx, epoch) {
		if err != nil {
			return fmt.Errorf("%s split: %w", split, err)
		}
		batches++
	}
	el := time.Since(start)
	s := l.Stats()
	rows, skipped := s.Rows-before.Rows, s.Skipped-before.Skipped
	if numbered {
		split = fmt.Sprintf("%s epoch %d", split, epoch+1)
	}
	fmt.Fprintf(w, "%s: %d rows in %d batches, %d skipped, %.0f rows/s\n",
		split, rows, batches, skipped, float64(rows)/el.Seconds())
	return nil
}

func printSchema(w io.Writer, s data.Schema) {
	fmt.Fprintf(w, "inputs: %d dense", len(s.Dense))
	for _, g := range []struct {
		name  string
		slots []data.Slot
	}{{"categorical", s.Categorical}, {"multi-hot", s.MultiHot}} {
		if len(g.slots) == 0 {
			continue
		}
		parts := make([]string, len(g.slots))
		for i, sl := range g.slots {
			parts[i] = fmt.Sprintf("%s:%d", sl.Name, sl.Cardinality)
		}
		fmt.Fprintf(w, ", %d %s (%s)", len(g.slots), g.name, strings.Join(parts, " "))
	}
	if s.Image != nil {
		fmt.Fprintf(w, ", image %v", s.Image)
	}
	fmt.Fprintf(w, "; label %s %s\n", s.Label.Name, s.Label.Type)
}
