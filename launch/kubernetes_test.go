//go:build kubernetes

package launch

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
)

func newFakeKube(t *testing.T) (*Kubernetes, *fake.Clientset) {
	client := fake.NewClientset()
	return NewKubernetes(client, &Store{Root: t.TempDir()}, nil), client
}

// submitFake submits req to a fake cluster and returns the executor, the
// fake clientset and the job's record.
func submitFake(t *testing.T, req JobRequest) (*Kubernetes, *fake.Clientset, *Record) {
	t.Helper()
	k, client := newFakeKube(t)
	id, err := k.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := k.store.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return k, client, rec
}

func kubeRequest(workers, gpus int) JobRequest {
	return JobRequest{Args: []string{"train", "job.yaml"}, Workers: workers, CPUs: 2, Memory: "4Gi", GPUs: gpus,
		Image: "registry.example/mlenv:1", Namespace: "ml", Env: map[string]string{"B": "2", "A": "1"}}
}

func TestKubernetesSubmitCreatesIndexedJobAndHeadlessService(t *testing.T) {
	_, client, rec := submitFake(t, kubeRequest(3, 1))
	ctx, id := context.Background(), rec.ID
	name := rec.KubeName
	job, err := client.BatchV1().Jobs("ml").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := job.Spec
	if *s.Completions != 3 || *s.Parallelism != 3 || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completions %d parallelism %d mode %s, want 3, 3, Indexed", *s.Completions, *s.Parallelism, *s.CompletionMode)
	}
	if s.Template.Spec.Subdomain != name || s.Template.Labels[LabelJob] != string(id) || job.Labels[LabelJob] != string(id) {
		t.Errorf("pods are not in the Service's subdomain or lack the job label: %+v", s.Template)
	}
	c := s.Template.Spec.Containers[0]
	if c.Image != "registry.example/mlenv:1" || c.Command[0] != "mlenv" || strings.Join(c.Args, " ") != "train job.yaml" {
		t.Errorf("container runs %s %v %v", c.Image, c.Command, c.Args)
	}
	env := map[string]string{}
	var order []string
	for _, e := range c.Env {
		env[e.Name] = e.Value
		order = append(order, e.Name)
	}
	if env["MLENV_WORLD_SIZE"] != "3" || env["MLENV_RENDEZVOUS"] != name+"-0."+name+":29400" || env[EnvJobID] != string(id) {
		t.Errorf("worker environment %v", env)
	}
	if strings.Join(order[len(order)-2:], ",") != "A,B" {
		t.Errorf("extra environment not in sorted order: %v", order)
	}
	want := map[corev1.ResourceName]string{corev1.ResourceCPU: "2", corev1.ResourceMemory: "4Gi", gpuResource: "1"}
	for res, q := range want {
		if got := c.Resources.Requests[res]; got.Cmp(resource.MustParse(q)) != 0 {
			t.Errorf("request %s = %s, want %s", res, got.String(), q)
		}
	}
	if got := c.Resources.Limits[gpuResource]; got.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("GPU limit %s, want 1", got.String())
	}

	svc, err := client.CoreV1().Services("ml").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses || svc.Spec.Selector[LabelJob] != string(id) {
		t.Errorf("service is not a headless selector of the job's pods: %+v", svc.Spec)
	}
	if len(svc.OwnerReferences) != 1 || svc.OwnerReferences[0].Kind != "Job" || svc.OwnerReferences[0].Name != name {
		t.Errorf("service owner references %+v, want the Job", svc.OwnerReferences)
	}
}

func TestKubernetesNoGPURequestUnlessAsked(t *testing.T) {
	_, client, rec := submitFake(t, kubeRequest(1, 0))
	job, _ := client.BatchV1().Jobs("ml").Get(context.Background(), rec.KubeName, metav1.GetOptions{})
	res := job.Spec.Template.Spec.Containers[0].Resources
	if _, ok := res.Requests[gpuResource]; ok {
		t.Errorf("GPU requested for a CPU job: %v", res.Requests)
	}
	if _, ok := res.Limits[gpuResource]; ok {
		t.Errorf("GPU limited for a CPU job: %v", res.Limits)
	}
}

func TestKubernetesRejectsBadRequests(t *testing.T) {
	k, _ := newFakeKube(t)
	noImage := kubeRequest(1, 0)
	noImage.Image = ""
	badMem := kubeRequest(1, 0)
	badMem.Memory = "lots"
	for _, req := range []JobRequest{noImage, badMem, {Workers: 0, Image: "x"}} {
		if _, err := k.Submit(context.Background(), req); err == nil {
			t.Errorf("%+v: accepted", req)
		}
	}
}

func TestKubernetesStatusFollowsTheJob(t *testing.T) {
	k, client, rec := submitFake(t, kubeRequest(2, 0))
	ctx, id := context.Background(), rec.ID
	jobs := client.BatchV1().Jobs("ml")
	setStatus := func(s batchv1.JobStatus) {
		job, _ := jobs.Get(ctx, rec.KubeName, metav1.GetOptions{})
		job.Status = s
		if _, err := jobs.UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(state State, code, restarts int) {
		t.Helper()
		st, err := k.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != state || st.ExitCode != code || st.Restarts != restarts {
			t.Fatalf("status %s exit %d restarts %d, want %s %d %d", st.State, st.ExitCode, st.Restarts, state, code, restarts)
		}
	}
	check(Queued, 0, 0)
	setStatus(batchv1.JobStatus{Active: 2, Failed: 1})
	check(Running, 0, 1)
	// A failed worker pod with its exit code, then the Job gives up.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: rec.KubeName + "-1-x", Namespace: "ml",
		Labels: map[string]string{LabelJob: string(id)}, Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: "1"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}}}}}
	if _, err := client.CoreV1().Pods("ml").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setStatus(batchv1.JobStatus{Failed: 2, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}})
	check(Failed, 3, 2)
	if st, _ := k.Status(ctx, id); !strings.Contains(st.Message, "backoff limit") {
		t.Errorf("message %q does not say why", st.Message)
	}
}

func TestKubernetesSucceeds(t *testing.T) {
	k, client, rec := submitFake(t, kubeRequest(1, 0))
	ctx, id := context.Background(), rec.ID
	job, _ := client.BatchV1().Jobs("ml").Get(ctx, rec.KubeName, metav1.GetOptions{})
	job.Status = batchv1.JobStatus{Succeeded: 1, Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	client.BatchV1().Jobs("ml").UpdateStatus(ctx, job, metav1.UpdateOptions{})
	if st, err := k.Status(ctx, id); err != nil || st.State != Succeeded {
		t.Fatalf("status %+v, %v; want succeeded", st, err)
	}
}

func TestKubernetesCancelDeletesJobAndService(t *testing.T) {
	k, client, rec := submitFake(t, kubeRequest(2, 0))
	ctx, id := context.Background(), rec.ID
	if err := k.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BatchV1().Jobs("ml").Get(ctx, rec.KubeName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Job still there after Cancel: %v", err)
	}
	if _, err := client.CoreV1().Services("ml").Get(ctx, rec.KubeName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Service still there after Cancel: %v", err)
	}
	if st, _ := k.Status(ctx, id); st.State != Cancelled {
		t.Errorf("state %s after Cancel", st.State)
	}
	if err := k.Cancel(ctx, id); err != nil {
		t.Errorf("second Cancel: %v", err)
	}
}

func TestKubernetesLogsArePrefixedByRank(t *testing.T) {
	k, client, rec := submitFake(t, kubeRequest(2, 0))
	ctx, id := context.Background(), rec.ID
	for _, idx := range []string{"1", "0"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: rec.KubeName + "-" + idx, Namespace: "ml",
			Labels: map[string]string{LabelJob: string(id)}, Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: idx}}}
		client.CoreV1().Pods("ml").Create(ctx, pod, metav1.CreateOptions{})
	}
	for _, follow := range []bool{false, true} {
		r, err := k.Logs(ctx, id, follow)
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		// The fake clientset answers every log request with "fake logs".
		got := string(out)
		if follow {
			if strings.Count(got, "[rank 0] fake logs\n") != 1 || strings.Count(got, "[rank 1] fake logs\n") != 1 {
				t.Errorf("followed logs %q", got)
			}
		} else if got != "[rank 0] fake logs\n[rank 1] fake logs\n" {
			t.Errorf("logs %q, want rank 0 then rank 1", got)
		}
	}
}

func TestKubeName(t *testing.T) {
	for id, want := range map[JobID]string{
		"20261126-020550-b100ea04":            "mlenv-20261126-020550-b100ea04",
		"A_B":                                 "mlenv-a-b",
		JobID(strings.Repeat("x", 80) + "-y"): "mlenv-" + strings.Repeat("x", 44),
	} {
		if got := kubeName(id); got != want || len(got) > 50 {
			t.Errorf("kubeName(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestKubernetesRealCluster submits to the cluster of the kubeconfig named
// by MLENV_TEST_KUBECONFIG (for example a kube-apiserver with kwok nodes),
// so the objects pass the API server's real validation, and checks that
// Cancel removes them. Opt-in: no cluster exists in CI.
func TestKubernetesRealCluster(t *testing.T) {
	path := os.Getenv("MLENV_TEST_KUBECONFIG")
	if path == "" {
		t.Skip("MLENV_TEST_KUBECONFIG not set: no Kubernetes cluster to test against")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKubernetes(client, &Store{Root: t.TempDir()}, nil)
	ctx := context.Background()
	id, err := k.Submit(ctx, JobRequest{Binary: "sh", Args: []string{"-c", "echo rank $JOB_COMPLETION_INDEX"},
		Workers: 2, Memory: "64Mi", Image: "busybox:1.36", Namespace: "default"})
	if err != nil {
		t.Fatalf("the API server refused the objects: %v", err)
	}
	if st, err := k.Status(ctx, id); err != nil || st.State.Final() {
		t.Fatalf("status right after submit: %+v, %v", st, err)
	}
	if err := k.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	rec, _ := k.store.Get(id)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		_, errJob := client.BatchV1().Jobs("default").Get(ctx, rec.KubeName, metav1.GetOptions{})
		_, errSvc := client.CoreV1().Services("default").Get(ctx, rec.KubeName, metav1.GetOptions{})
		if apierrors.IsNotFound(errJob) && apierrors.IsNotFound(errSvc) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("60 s after Cancel: Job %v, Service %v", errJob, errSvc)
		}
	}
}
