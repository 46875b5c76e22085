package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/buildinfo"
)

func init() { register(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and active compute kernels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Read()
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			commit := info.Commit
			if info.Modified {
				commit += " (modified)"
			}
			kernels := "none"
			if len(info.Kernels) > 0 {
				kernels = strings.Join(info.Kernels, ", ")
			}
			fmt.Fprintf(w, "mlenv %s\ncommit:   %s\ngo:       %s %s (cgo %v)\nkernels:  %s\n",
				info.Version, commit, info.GoVersion, info.Platform, info.CGO, kernels)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
