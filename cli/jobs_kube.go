//go:build kubernetes

package cli

import (
	"fmt"
	"log/slog"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mlenv/mlenv/launch"
)

// newKubernetesExecutor connects to the cluster of the current kubeconfig
// context (KUBECONFIG or ~/.kube/config; in-cluster config inside a pod).
func newKubernetesExecutor(store *launch.Store) (launch.Executor, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: loading kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return launch.NewKubernetes(client, store, slog.Default()), nil
}
