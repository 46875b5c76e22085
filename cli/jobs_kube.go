package cli

import "github.com/mlenv/mlenv/launch"

// newKubernetesExecutor is replaced once the Kubernetes executor lands.
func newKubernetesExecutor(store *launch.Store) (launch.Executor, error) {
	return nil, usagef("--executor kubernetes: not built in")
}
