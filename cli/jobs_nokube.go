//go:build !kubernetes

package cli

import (
	"errors"

	"github.com/mlenv/mlenv/launch"
)

// newKubernetesExecutor reports that this binary has no Kubernetes
// executor: client-go is compiled in only with the kubernetes build tag.
func newKubernetesExecutor(*launch.Store) (launch.Executor, error) {
	return nil, errors.New("--executor kubernetes: this mlenv was built without Kubernetes support; rebuild with `go build -tags kubernetes ./cmd/mlenv`")
}
