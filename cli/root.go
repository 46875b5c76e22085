// Package cli holds mlenv's command tree. Each command group lives in its
// own file and adds itself with register from an init function, so that
// groups are added without touching the root. Commands parse flags and call
// the domain packages; they hold no logic of their own.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, as in common CLI habit.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line itself was wrong
)

// usageError marks an error in how mlenv was invoked (unknown flag, wrong
// number of arguments); Main exits with code 2 for it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// codedError carries the exit code a command wants mlenv to end with,
// such as a failed job's own code, which `mlenv train --workers N` passes on.
type codedError struct {
	err  error
	code int // 1 to 255
}

func (e codedError) Error() string { return e.err.Error() }
func (e codedError) Unwrap() error { return e.err }

// withExitCode returns err so that mlenv exits with code when code is a
// valid failure status (1 to 255), and with 1 otherwise.
func withExitCode(err error, code int) error {
	if code < 1 || code > 255 {
		code = exitError
	}
	return codedError{err, code}
}

// usagef returns a usage error; commands use it for invalid flag values.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

var groups []func() *cobra.Command

// register adds a top-level command built by newCmd. It is called from init
// functions of the files in this package.
func register(newCmd func() *cobra.Command) {
	if newCmd == nil {
		panic("cli: register of nil command constructor")
	}
	groups = append(groups, newCmd)
}

// globalFlags are the flags every command shares.
type globalFlags struct {
	logLevel  string
	logFormat string
}

// newRoot builds the whole command tree writing to stdout and stderr.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var g globalFlags
	root := &cobra.Command{
		Use:   "mlenv",
		Short: "One ML engine and platform: train, track, tune, explain and serve models",
		Long: `mlenv is one standardized ML engine and platform in a single binary.
It runs on a laptop with embedded defaults (local processes, SQLite, a local
directory) and scales out on existing engines.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(stderr, g.logLevel, g.logFormat)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	cmds := make([]*cobra.Command, 0, len(groups))
	for _, newCmd := range groups {
		cmds = append(cmds, newCmd())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	for _, c := range cmds {
		root.AddCommand(c)
	}
	markUsageErrors(root)
	return root
}

// markUsageErrors wraps every command's positional-argument validator so that
// a wrong argument count is reported as a usage error (exit code 2).
func markUsageErrors(c *cobra.Command) {
	if c.Args != nil {
		validate := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := validate(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsageErrors(sub)
	}
}

// newLogger returns the slog logger selected by the global flags.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

// Main runs mlenv with args (without the program name) and returns the
// process exit code. Errors are printed as one line on stderr, never as a
// stack trace.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(stderr, "mlenv: %s\n", msg)
	code := exitCode(err)
	if code == exitUsage {
		fmt.Fprintln(stderr, "Run 'mlenv --help' for usage.")
	}
	return code
}

// exitCode returns the process exit code for a command's error.
func exitCode(err error) int {
	if isUsage(err) {
		return exitUsage
	}
	if c, ok := errors.AsType[codedError](err); ok {
		return c.code
	}
	return exitError
}

// isUsage reports whether err is a command-line mistake. Cobra reports an
// unknown subcommand as a plain error, so that one is recognised by text.
func isUsage(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	return strings.HasPrefix(err.Error(), "unknown command ")
}
