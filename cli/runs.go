package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
)

func init() { register(newRunsCmd) }

// trackingURIFlag adds --uri, defaulting to MLFLOW_TRACKING_URI or the
// local server.
func trackingURIFlag(cmd *cobra.Command, uri *string) {
	def := os.Getenv("MLFLOW_TRACKING_URI")
	if def == "" || !strings.HasPrefix(def, "http") {
		def = "http://127.0.0.1:5000"
	}
	cmd.Flags().StringVar(uri, "uri", def, "tracking server URI (default $MLFLOW_TRACKING_URI or the local server)")
}

func newTrackingClient(uri string) (*track.Client, error) {
	c, err := track.NewClient(uri, track.ClientOptions{Retries: 2})
	if err != nil {
		return nil, usagef("--uri: %v", err)
	}
	return c, nil
}

func writeTrackingJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newRunsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List and show tracked runs on a tracking server",
	}
	cmd.AddCommand(newRunsListCmd(), newRunsShowCmd())
	return cmd
}

func newRunsListCmd() *cobra.Command {
	var (
		uri, experiment, filter string
		orderBy                 []string
		max                     int
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List runs of an experiment, filtered and ordered with MLflow's search syntax",
		Example: `  mlenv runs list --experiment ctr --filter "metrics.auc > 0.8 and params.lr = '0.01'" --order-by "metrics.auc DESC"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if max < 1 {
				return usagef("--max %d: want at least 1", max)
			}
			c, err := newTrackingClient(uri)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			expID := experiment
			if experiment != "0" && strings.TrimLeft(experiment, "0123456789") != "" {
				e, err := c.GetExperimentByName(ctx, experiment)
				if err != nil {
					return fmt.Errorf("experiment %q: %w", experiment, err)
				}
				expID = e.ExperimentID
			}
			runs, _, err := c.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{expID},
				Search: store.Search{Filter: filter, OrderBy: orderBy, MaxResults: max}})
			if err != nil {
				return err
			}
			if asJSON {
				msgs := track.WireAll(runs, track.WireRun)
				if msgs == nil {
					msgs = []track.Run{} // [] rather than null for scripts
				}
				return writeTrackingJSON(cmd.OutOrStdout(), msgs)
			}
			printRuns(cmd.OutOrStdout(), runs)
			return nil
		},
	}
	trackingURIFlag(cmd, &uri)
	f := cmd.Flags()
	f.StringVar(&experiment, "experiment", "0", "experiment name or id")
	f.StringVar(&filter, "filter", "", "MLflow search filter, e.g. \"metrics.auc > 0.8\"")
	f.StringArrayVar(&orderBy, "order-by", nil, "order clause such as \"metrics.auc DESC\" (repeatable)")
	f.IntVar(&max, "max", 100, "most runs to list")
	f.BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func printRuns(w io.Writer, runs []store.Run) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tNAME\tSTATUS\tSTARTED\tMETRICS")
	for _, r := range runs {
		var ms []string
		for _, m := range r.Metrics {
			ms = append(ms, fmt.Sprintf("%s=%.4g", m.Key, float64(m.Value)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Info.RunID, r.Info.RunName, r.Info.Status,
			time.UnixMilli(r.Info.StartTime).UTC().Format("2006-01-02 15:04:05"), strings.Join(ms, " "))
	}
	tw.Flush()
}

func newRunsShowCmd() *cobra.Command {
	var (
		uri    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show one run: attributes, latest metrics, params, logged models and tags",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newTrackingClient(uri)
			if err != nil {
				return err
			}
			r, err := c.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeTrackingJSON(cmd.OutOrStdout(), track.WireRun(r))
			}
			w := cmd.OutOrStdout()
			i := r.Info
			fmt.Fprintf(w, "run:        %s (%s)\nexperiment: %s\nstatus:     %s\nstarted:    %s\nartifacts:  %s\n",
				i.RunID, i.RunName, i.ExperimentID, i.Status, time.UnixMilli(i.StartTime).UTC().Format(time.RFC3339), i.ArtifactURI)
			section(w, "metrics", len(r.Metrics), func(tw io.Writer) {
				for _, m := range r.Metrics {
					fmt.Fprintf(tw, "  %s\t%g\tstep %d\n", m.Key, float64(m.Value), m.Step)
				}
			})
			section(w, "params", len(r.Params), func(tw io.Writer) {
				for _, p := range r.Params {
					fmt.Fprintf(tw, "  %s\t%s\n", p.Key, p.Value)
				}
			})
			section(w, "logged models", len(r.ModelOutputs), func(tw io.Writer) {
				for _, o := range r.ModelOutputs {
					fmt.Fprintf(tw, "  %s\tstep %d\n", o.ModelID, o.Step)
				}
			})
			section(w, "tags", len(r.Tags), func(tw io.Writer) {
				tags := append([]store.Tag(nil), r.Tags...)
				sort.Slice(tags, func(a, b int) bool { return tags[a].Key < tags[b].Key })
				for _, t := range tags {
					fmt.Fprintf(tw, "  %s\t%s\n", t.Key, t.Value)
				}
			})
			return nil
		},
	}
	trackingURIFlag(cmd, &uri)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// section prints a titled, aligned block when it has rows.
func section(w io.Writer, title string, n int, rows func(io.Writer)) {
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows(tw)
	tw.Flush()
}
