package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/registry"
)

func init() { register(newModelsCmd) }

var modelsCmds []func() *cobra.Command

// registerModels adds a subcommand of `mlenv models`; files of this
// package call it from init.
func registerModels(newCmd func() *cobra.Command) {
	if newCmd == nil {
		panic("cli: registerModels of nil command constructor")
	}
	modelsCmds = append(modelsCmds, newCmd)
}

func init() {
	registerModels(newModelsListCmd)
	registerModels(newModelsShowCmd)
}

func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Work with the model registry: registered models, versions and aliases",
	}
	for _, newCmd := range modelsCmds {
		cmd.AddCommand(newCmd())
	}
	return cmd
}

func newRegistryClient(uri string) (*registry.Client, error) {
	c, err := newTrackingClient(uri)
	if err != nil {
		return nil, err
	}
	return registry.NewClient(c), nil
}

func newModelsListCmd() *cobra.Command {
	var (
		uri, filter string
		max         int
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registered models with their aliases and newest version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if max < 1 || max > 1000 {
				return usagef("--max %d: want 1 to 1000", max)
			}
			rc, err := newRegistryClient(uri)
			if err != nil {
				return err
			}
			models, err := rc.SearchModels(cmd.Context(), filter, max)
			if err != nil {
				return err
			}
			if asJSON {
				return writeTrackingJSON(cmd.OutOrStdout(), models)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tLATEST\tALIASES\tUPDATED")
			for _, m := range models {
				latest := 0
				for _, v := range m.LatestVersions {
					if n, _ := strconv.Atoi(v.Version); n > latest {
						latest = n
					}
				}
				var aliases []string
				for _, a := range m.Aliases {
					aliases = append(aliases, a.Alias+"=v"+a.Version)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", m.Name, latest, strings.Join(aliases, ","), stamp(m.LastUpdatedTimestamp))
			}
			return tw.Flush()
		},
	}
	trackingURIFlag(cmd, &uri)
	f := cmd.Flags()
	f.StringVar(&filter, "filter", "", "MLflow filter, e.g. \"name LIKE 'ctr%'\"")
	f.IntVar(&max, "max", 100, "most models to list")
	f.BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func stamp(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05")
}

func newModelsShowCmd() *cobra.Command {
	var (
		uri    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show NAME | NAME@ALIAS | NAME/VERSION",
		Short: "Show a registered model with its versions, or one version by alias or number",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, err := newRegistryClient(uri)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			if name, alias, ok := strings.Cut(args[0], "@"); ok {
				return showVersion(w, asJSON)(rc.GetVersionByAlias(ctx, name, alias))
			}
			if name, version, ok := strings.Cut(args[0], "/"); ok {
				return showVersion(w, asJSON)(rc.GetVersion(ctx, name, version))
			}
			m, err := rc.GetModel(ctx, args[0])
			if err != nil {
				return err
			}
			versions, err := rc.SearchVersions(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeTrackingJSON(w, struct {
					Model    *registry.RegisteredModel `json:"registered_model"`
					Versions []registry.ModelVersion   `json:"model_versions"`
				}{m, versions})
			}
			fmt.Fprintf(w, "model:   %s\ncreated: %s\n", m.Name, stamp(m.CreationTimestamp))
			if m.Description != "" {
				fmt.Fprintf(w, "description: %s\n", m.Description)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tSTAGE\tALIASES\tRUN\tSOURCE")
			for _, v := range versions {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Version, v.CurrentStage, strings.Join(v.Aliases, ","), v.RunID, v.Source)
			}
			return tw.Flush()
		},
	}
	trackingURIFlag(cmd, &uri)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// showVersion returns a printer of one model version result.
func showVersion(w io.Writer, asJSON bool) func(*registry.ModelVersion, error) error {
	return func(v *registry.ModelVersion, err error) error {
		if err != nil {
			return err
		}
		if asJSON {
			return writeTrackingJSON(w, v)
		}
		fmt.Fprintf(w, "model:   %s\nversion: %s\nstage:   %s\naliases: %s\nsource:  %s\nrun:     %s\ncreated: %s\n",
			v.Name, v.Version, v.CurrentStage, strings.Join(v.Aliases, ","), v.Source, v.RunID, stamp(v.CreationTimestamp))
		return nil
	}
}
