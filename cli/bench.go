package cli

import "github.com/spf13/cobra"

func init() { register(newBenchCmd) }

var benchCmds []func() *cobra.Command

// registerBench adds a subcommand of `mlenv bench`; benchmark files of this
// package call it from init.
func registerBench(newCmd func() *cobra.Command) {
	if newCmd == nil {
		panic("cli: registerBench of nil command constructor")
	}
	benchCmds = append(benchCmds, newCmd)
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Reproduce mlenv's benchmarks (engine, explain, serve, tracking, train, tune) from the binary",
	}
	for _, newCmd := range benchCmds {
		cmd.AddCommand(newCmd())
	}
	return cmd
}
