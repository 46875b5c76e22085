// Package buildinfo reports what a running mlenv binary was built from:
// its version, the VCS commit, the Go toolchain and which compute kernels
// are active. It has no dependencies inside mlenv so that every layer may
// import it.
package buildinfo

import (
	"cmp"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
)

// Version is the release version. It is set at link time by the Makefile
// (-ldflags "-X github.com/mlenv/mlenv/buildinfo.Version=...") and is
// "devel" for a plain go build.
var Version = "devel"

// Commit is the VCS commit, set at link time by the Makefile like Version.
// The Go toolchain's own VCS stamp (debug.BuildInfo) takes precedence; this
// covers builds made with -buildvcs=false, which some environments set in
// GOFLAGS.
var Commit = ""

// Info describes one binary.
type Info struct {
	Version   string   `json:"version"`
	Commit    string   `json:"commit"`
	Modified  bool     `json:"modified"`
	GoVersion string   `json:"go_version"`
	Platform  string   `json:"platform"`
	CGO       bool     `json:"cgo"`
	Kernels   []string `json:"kernels"`
}

var (
	kernelsMu sync.Mutex
	kernels   = map[string]string{}
)

// RegisterKernel records that the compute kernel named name is active for
// the operation class op (for example op "gemm", name "openblas"). The
// engine calls it from init functions; a later registration for the same op
// replaces the earlier one, so a faster kernel chosen at start-up wins.
// It is safe for concurrent use.
func RegisterKernel(op, name string) {
	if op == "" || name == "" {
		panic("buildinfo: RegisterKernel with empty op or name")
	}
	kernelsMu.Lock()
	defer kernelsMu.Unlock()
	kernels[op] = name
}

// Read returns the build facts of the running binary.
func Read() Info {
	info := Info{
		Version:   Version,
		Commit:    cmp.Or(Commit, "unknown"),
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			case "CGO_ENABLED":
				info.CGO = s.Value == "1"
			}
		}
	}
	kernelsMu.Lock()
	for op, name := range kernels {
		info.Kernels = append(info.Kernels, op+"="+name)
	}
	kernelsMu.Unlock()
	sort.Strings(info.Kernels)
	return info
}
