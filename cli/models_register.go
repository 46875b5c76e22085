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
		uri, runID, dir, alias, name string
		asJSON                       bool
	)
	cmd := &cobra.Command{
		Use:   "register (RUN_ID --name NAME | NAME (--run RUN_ID | --path DIR))",
		Short: "Register a model artifact as a new version of a registered model",
		Long: `Register a model artifact as the next version of model NAME, creating the
model when it does not exist yet. Two forms:

  mlenv models register RUN_ID --name NAME
  mlenv models register NAME --run RUN_ID | --path DIR

The first (used when --name is given) and --run take the artifact that
mlenv train logged to the run ("model" under the run's artifacts); --path
takes an artifact directory on the server's file system. --alias points an
alias at the new version (moving it from an older one), which mlenv serve
NAME@ALIAS follows.`,
		Example: `  mlenv models register 0f3c... --name ctr --alias production
  mlenv models register ctr --run 0f3c...
  mlenv models register ctr --path mlenv-models/ctr-dlrm`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			model, run, source, err := registerSource(args[0], cmd.Flags().Changed("name"), name, runID, dir)
			if err != nil {
				return err
			}
			c, err := newTrackingClient(uri)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			err = c.Do(ctx, "POST", "registered-models/create", map[string]string{"name": model}, nil)
			if err != nil && store.CodeOf(err) != store.ResourceAlreadyExists {
				return fmt.Errorf("registering model %q: %w", model, err)
			}
			var resp struct {
				Version registry.ModelVersion `json:"model_version"`
			}
			req := map[string]string{"name": model, "source": source, "run_id": run}
			if err := c.Do(ctx, "POST", "model-versions/create", req, &resp); err != nil {
				return fmt.Errorf("registering model %q from %s: %w", model, source, err)
			}
			v := resp.Version
			if alias != "" {
				req := map[string]string{"name": model, "alias": alias, "version": v.Version}
				if err := c.Do(ctx, "POST", "registered-models/alias", req, nil); err != nil {
					return fmt.Errorf("model %q: alias %q: %w", model, alias, err)
				}
				v.Aliases = append(v.Aliases, alias)
			}
			if asJSON {
				return writeTrackingJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered %s/%s from %s\n", model, v.Version, source)
			return nil
		},
	}
	trackingURIFlag(cmd, &uri)
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "registered model name; the argument is then the run ID")
	f.StringVar(&runID, "run", "", "run whose logged model artifact to register")
	f.StringVar(&dir, "path", "", "model artifact directory to register")
	f.StringVar(&alias, "alias", "", "point this alias at the new version")
	f.BoolVar(&asJSON, "json", false, "print the new version as JSON")
	return cmd
}

// registerSource resolves the two forms of models register: with --name
// (nameSet) arg is the run ID and name the model; otherwise arg is the
// model and the artifact comes from --run (runID) or --path (dir). It
// returns the model name, the run the version comes from ("" for --path)
// and the artifact source.
func registerSource(arg string, nameSet bool, name, runID, dir string) (model, run, source string, err error) {
	switch {
	case nameSet && (runID != "" || dir != ""):
		return "", "", "", usagef("with --name the argument is the run ID: give neither --run nor --path")
	case nameSet && name == "":
		return "", "", "", usagef("--name is empty")
	case nameSet:
		return name, arg, "runs:/" + arg + "/model", nil
	case (runID == "") == (dir == ""):
		return "", "", "", usagef("give exactly one of --run and --path (or the run ID as the argument with --name)")
	case dir != "":
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", "", "", fmt.Errorf("model artifact directory %s: %w", dir, err)
		}
		return arg, "", abs, nil
	}
	return arg, runID, "runs:/" + runID + "/model", nil
}
