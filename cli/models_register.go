package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/registry"
	"github.com/mlenv/mlenv/store"
)

func init() { registerModels(newModelsRegisterCmd) }

func newModelsRegisterCmd() *cobra.Command {
	var (
		uri, runID, dir, alias string
		asJSON                 bool
	)
	cmd := &cobra.Command{
		Use:   "register NAME (--run RUN_ID | --path DIR)",
		Short: "Register a model artifact as a new version of a registered model",
		Long: `Register a model artifact as the next version of model NAME, creating the
model when it does not exist yet. --run takes the artifact that mlenv train
logged to a run ("model" under the run's artifacts); --path takes an
artifact directory on the server's file system. --alias points an alias at
the new version (moving it from an older one), which mlenv serve NAME@ALIAS
follows.`,
		Example: `  mlenv models register ctr --run 0f3c... --alias production`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (runID == "") == (dir == "") {
				return usagef("give exactly one of --run and --path")
			}
			source := "runs:/" + runID + "/model"
			if dir != "" {
				abs, err := filepath.Abs(dir)
				if err != nil {
					return err
				}
				source = abs
			}
			c, err := newTrackingClient(uri)
			if err != nil {
				return err
			}
			ctx, name := cmd.Context(), args[0]
			err = c.Do(ctx, "POST", "registered-models/create", map[string]string{"name": name}, nil)
			if err != nil && store.CodeOf(err) != store.ResourceAlreadyExists {
				return fmt.Errorf("registering model %q: %w", name, err)
			}
			var resp struct {
				Version registry.ModelVersion `json:"model_version"`
			}
			req := map[string]string{"name": name, "source": source, "run_id": runID}
			if err := c.Do(ctx, "POST", "model-versions/create", req, &resp); err != nil {
				return fmt.Errorf("registering model %q from %s: %w", name, source, err)
			}
			v := resp.Version
			if alias != "" {
				req := map[string]string{"name": name, "alias": alias, "version": v.Version}
				if err := c.Do(ctx, "POST", "registered-models/alias", req, nil); err != nil {
					return fmt.Errorf("model %q: alias %q: %w", name, alias, err)
				}
				v.Aliases = append(v.Aliases, alias)
			}
			if asJSON {
				return writeTrackingJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered %s/%s from %s\n", name, v.Version, source)
			return nil
		},
	}
	trackingURIFlag(cmd, &uri)
	f := cmd.Flags()
	f.StringVar(&runID, "run", "", "run whose logged model artifact to register")
	f.StringVar(&dir, "path", "", "model artifact directory to register")
	f.StringVar(&alias, "alias", "", "point this alias at the new version")
	f.BoolVar(&asJSON, "json", false, "print the new version as JSON")
	return cmd
}
