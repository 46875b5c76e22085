package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/buildinfo"
)

// runCLI runs the command tree in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		errorHas string
	}{
		{[]string{"version"}, exitOK, ""},
		{[]string{"no-such-command"}, exitUsage, `unknown command "no-such-command"`},
		{[]string{"version", "--no-such-flag"}, exitUsage, "unknown flag: --no-such-flag"},
		{[]string{"version", "extra-arg"}, exitUsage, `unknown command "extra-arg"`},
		{[]string{"--log-level", "loud", "version"}, exitUsage, `--log-level "loud"`},
		{[]string{"--log-format", "xml", "version"}, exitUsage, `--log-format "xml"`},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, tt.args...)
		if code != tt.code {
			t.Errorf("mlenv %v: exit code %d, want %d (stderr %q)", tt.args, code, tt.code, stderr)
		}
		if !strings.Contains(stderr, tt.errorHas) {
			t.Errorf("mlenv %v: stderr %q does not contain %q", tt.args, stderr, tt.errorHas)
		}
		if tt.code != exitOK && strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Errorf("mlenv %v: error is not short: %q", tt.args, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	buildinfo.RegisterKernel("test-op", "test-kernel")
	code, out, _ := runCLI(t, "version")
	if code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{"mlenv " + buildinfo.Version, "commit:", runtime.Version(), "test-op=test-kernel"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output %q lacks %q", out, want)
		}
	}

	code, out, _ = runCLI(t, "version", "--json")
	if code != exitOK {
		t.Fatalf("--json exit code %d", code)
	}
	var info buildinfo.Info
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("version --json is not JSON: %v\n%s", err, out)
	}
	if info.GoVersion != runtime.Version() || info.Version != buildinfo.Version {
		t.Errorf("version --json = %+v", info)
	}
}

func TestHelpListsGroups(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != exitOK || !strings.Contains(out, "version") {
		t.Fatalf("--help: code %d, output %q", code, out)
	}
}

func TestExitCodeOfErrors(t *testing.T) {
	failed := errors.New("job failed")
	for _, tt := range []struct {
		err  error
		want int
	}{
		{failed, exitError},
		{usagef("--workers %d", -1), exitUsage},
		{withExitCode(failed, 3), 3},
		{fmt.Errorf("train: %w", withExitCode(failed, 42)), 42},
		{withExitCode(failed, 0), exitError},   // a job cancelled without a code still fails
		{withExitCode(failed, -9), exitError},  // killed by a signal
		{withExitCode(failed, 300), exitError}, // not a valid status
	} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
