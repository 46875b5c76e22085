//go:build kubernetes

package launch

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mlenv/mlenv/collective"
)

// Labels on every object of a job; LabelJob selects them all.
const (
	LabelJob       = "mlenv.dev/job-id"
	labelManagedBy = "app.kubernetes.io/managed-by"
	// gpuResource is the extended resource of NVIDIA's device plugin.
	gpuResource = corev1.ResourceName("nvidia.com/gpu")
)

// Kubernetes runs jobs on a Kubernetes cluster as an Indexed Job
// (completions = parallelism = Workers) plus a headless Service named like
// the Job, through which the pods find rank 0 at NAME-0.NAME:PORT. Each pod
// gets its rank from JOB_COMPLETION_INDEX (see collective.ConfigFromEnv) and
// MLENV_WORLD_SIZE and MLENV_RENDEZVOUS directly. Failed pods are replaced
// by the Job controller up to MaxRestarts x Workers times (a failing worker
// makes its peers fail too); MLENV_RESTART_COUNT is not known there and
// stays unset. The Service is owned by the Job, so deleting the Job removes
// everything; Cancel deletes both explicitly as well. Kubernetes does the
// queueing; Priority is not passed on.
//
// This file is built only with the kubernetes build tag, because client-go
// adds minutes to a build.
type Kubernetes struct {
	client kubernetes.Interface
	store  *Store
	logger *slog.Logger
}

var _ Executor = (*Kubernetes)(nil)

// NewKubernetes returns an executor using client, keeping records in store.
// A nil logger discards.
func NewKubernetes(client kubernetes.Interface, store *Store, logger *slog.Logger) *Kubernetes {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Kubernetes{client: client, store: store, logger: logger}
}

// Submit creates the Job and its headless Service.
func (k *Kubernetes) Submit(ctx context.Context, req JobRequest) (JobID, error) {
	req, err := req.withDefaults()
	if err == nil && req.Image == "" {
		err = errors.New("image: required (a container image holding the mlenv binary)")
	}
	if err == nil && req.Memory != "" {
		_, err = resource.ParseQuantity(req.Memory)
		if err != nil {
			err = fmt.Errorf("memory %q: %w", req.Memory, err)
		}
	}
	if err != nil {
		return "", fmt.Errorf("kubernetes job: %w", err)
	}
	if req.Namespace == "" {
		req.Namespace = "default"
	}
	if req.Binary == "" {
		req.Binary = "mlenv"
	}
	rec, err := k.store.Create("kubernetes", req)
	if err != nil {
		return "", err
	}
	rec.KubeName = kubeName(rec.ID)
	job, svc := KubeObjects(rec.ID, rec.KubeName, req)
	created, err := k.client.BatchV1().Jobs(req.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return "", k.failSubmit(rec, fmt.Errorf("creating Job %s/%s: %w", req.Namespace, rec.KubeName, err))
	}
	svc.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(created, batchv1.SchemeGroupVersion.WithKind("Job"))}
	if _, err := k.client.CoreV1().Services(req.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		k.deleteAll(ctx, rec)
		return "", k.failSubmit(rec, fmt.Errorf("creating Service %s/%s: %w", req.Namespace, rec.KubeName, err))
	}
	k.logger.Info("kubernetes job submitted", "job", rec.ID, "namespace", req.Namespace, "name", rec.KubeName)
	return rec.ID, k.store.Put(rec)
}

func (k *Kubernetes) failSubmit(rec *Record, err error) error {
	rec.State, rec.ExitCode, rec.Message, rec.Finished = Failed, -1, err.Error(), time.Now().UTC()
	k.store.Put(rec)
	return fmt.Errorf("job %s: %w", rec.ID, err)
}

// kubeName turns a job id into a DNS-1035 label short enough that pod
// host names (NAME-INDEX) stay within 63 characters.
func kubeName(id JobID) string {
	name := "mlenv-" + strings.ToLower(string(id))
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, name)
	return strings.TrimRight(name[:min(len(name), 50)], "-")
}

// KubeObjects returns the Indexed Job and headless Service of job id, named
// name, for req (defaults filled in). The Service's owner reference is set
// once the Job exists.
func KubeObjects(id JobID, name string, req JobRequest) (*batchv1.Job, *corev1.Service) {
	labels := map[string]string{LabelJob: string(id), labelManagedBy: "mlenv"}
	port := int32(collective.DefaultPort)
	n := int32(req.Workers)
	backoff := int32(req.MaxRestarts * req.Workers)
	mode := batchv1.IndexedCompletion
	env := []corev1.EnvVar{
		{Name: collective.EnvWorldSize, Value: strconv.Itoa(req.Workers)},
		{Name: collective.EnvRendezvous, Value: fmt.Sprintf("%s-0.%s:%d", name, name, port)},
		{Name: EnvJobID, Value: string(id)},
	}
	for _, key := range slices.Sorted(maps.Keys(req.Env)) {
		env = append(env, corev1.EnvVar{Name: key, Value: req.Env[key]})
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: req.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			Completions:    &n,
			Parallelism:    &n,
			CompletionMode: &mode,
			BackoffLimit:   &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Subdomain:     name, // with the Service: pods resolve as NAME-INDEX.NAME
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name:      "worker",
						Image:     req.Image,
						Command:   []string{req.Binary},
						Args:      req.Args,
						Env:       env,
						Ports:     []corev1.ContainerPort{{Name: "rendezvous", ContainerPort: port}},
						Resources: kubeResources(req),
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: req.Namespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 map[string]string{LabelJob: string(id)},
			PublishNotReadyAddresses: true, // rank 0 must resolve before it is "ready"
			Ports:                    []corev1.ServicePort{{Name: "rendezvous", Port: port}},
		},
	}
	return job, svc
}

// kubeResources requests CPUs and memory per worker, limits memory to the
// request, and requests GPUs (requests equal limits for extended resources).
func kubeResources(req JobRequest) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(req.CPUs), resource.DecimalSI)},
		Limits:   corev1.ResourceList{},
	}
	if req.Memory != "" {
		mem := resource.MustParse(req.Memory) // validated by Submit
		r.Requests[corev1.ResourceMemory] = mem
		r.Limits[corev1.ResourceMemory] = mem
	}
	if req.GPUs > 0 {
		gpus := *resource.NewQuantity(int64(req.GPUs), resource.DecimalSI)
		r.Requests[gpuResource] = gpus
		r.Limits[gpuResource] = gpus
	}
	return r
}

// Status reads the Job's conditions and counts and records them.
func (k *Kubernetes) Status(ctx context.Context, id JobID) (Status, error) {
	rec, err := k.store.Get(id)
	if err != nil {
		return Status{}, err
	}
	if rec.State.Final() {
		return rec.Status, nil
	}
	job, err := k.client.BatchV1().Jobs(rec.Request.Namespace).Get(ctx, rec.KubeName, metav1.GetOptions{})
	if err != nil {
		return Status{}, fmt.Errorf("job %s: reading Job %s/%s: %w", id, rec.Request.Namespace, rec.KubeName, err)
	}
	applyJobStatus(rec, job.Status)
	if rec.State == Failed {
		rec.ExitCode = k.failedExitCode(ctx, rec)
	}
	return rec.Status, k.store.Put(rec)
}

// applyJobStatus maps a Job's status onto rec.
func applyJobStatus(rec *Record, s batchv1.JobStatus) {
	rec.Restarts = int(s.Failed)
	if s.StartTime != nil {
		rec.Started = s.StartTime.UTC()
	}
	for _, c := range s.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			rec.State, rec.ExitCode = Succeeded, 0
		case batchv1.JobFailed:
			rec.State, rec.Message = Failed, cmp.Or(c.Message, c.Reason)
		default:
			continue
		}
		rec.Finished = c.LastTransitionTime.UTC()
		return
	}
	if s.Active > 0 {
		rec.State = Running
	} else {
		rec.State = Queued
	}
}

// failedExitCode returns the first non-zero exit code among the job's
// terminated worker containers, or -1.
func (k *Kubernetes) failedExitCode(ctx context.Context, rec *Record) int {
	pods, err := k.pods(ctx, rec)
	if err != nil {
		return -1
	}
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				return int(t.ExitCode)
			}
		}
	}
	return -1
}

// pods lists the job's pods, ordered by completion index.
func (k *Kubernetes) pods(ctx context.Context, rec *Record) ([]corev1.Pod, error) {
	list, err := k.client.CoreV1().Pods(rec.Request.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelJob + "=" + string(rec.ID)})
	if err != nil {
		return nil, fmt.Errorf("job %s: listing pods: %w", rec.ID, err)
	}
	pods := list.Items
	slices.SortStableFunc(pods, func(a, b corev1.Pod) int { return cmp.Compare(podIndex(a), podIndex(b)) })
	return pods, nil
}

// podIndex is a pod's completion index (its rank), -1 when unknown.
func podIndex(p corev1.Pod) int {
	i, err := strconv.Atoi(p.Annotations[batchv1.JobCompletionIndexAnnotation])
	if err != nil {
		return -1
	}
	return i
}

// Logs returns the worker pods' logs, each line prefixed with "[rank N] ":
// pod after pod, or all pods at once as lines arrive when following.
func (k *Kubernetes) Logs(ctx context.Context, id JobID, follow bool) (io.ReadCloser, error) {
	rec, err := k.store.Get(id)
	if err != nil {
		return nil, err
	}
	pods, err := k.pods(ctx, rec)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	var mu sync.Mutex
	copyPod := func(p corev1.Pod) error {
		stream, err := k.client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Follow: follow}).Stream(ctx)
		if err != nil {
			return fmt.Errorf("log of pod %s: %w", p.Name, err)
		}
		defer stream.Close()
		w := &lineWriter{prefix: fmt.Appendf(nil, "[rank %d] ", podIndex(p)), mu: &mu, out: pw}
		if _, err := io.Copy(w, bufio.NewReader(stream)); err != nil {
			return err
		}
		return w.Flush()
	}
	go func() {
		if !follow {
			for _, p := range pods {
				if err := copyPod(p); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			pw.Close()
			return
		}
		errs := make(chan error, len(pods))
		for _, p := range pods {
			go func() { errs <- copyPod(p) }()
		}
		var first error
		for range pods {
			first = cmp.Or(first, <-errs)
		}
		pw.CloseWithError(first)
	}()
	return pr, nil
}

// Cancel deletes the Job (its pods and, through the owner reference, the
// Service go with it) and the Service, and records the job cancelled.
func (k *Kubernetes) Cancel(ctx context.Context, id JobID) error {
	rec, err := k.store.Get(id)
	if err != nil || rec.State.Final() {
		return err
	}
	if err := k.deleteAll(ctx, rec); err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	rec.State, rec.Message, rec.Finished = Cancelled, "cancelled", time.Now().UTC()
	return k.store.Put(rec)
}

// deleteAll deletes the job's Job (with its pods) and Service; objects
// already gone are fine.
func (k *Kubernetes) deleteAll(ctx context.Context, rec *Record) error {
	ns := rec.Request.Namespace
	background := metav1.DeletePropagationBackground
	errJob := k.client.BatchV1().Jobs(ns).Delete(ctx, rec.KubeName, metav1.DeleteOptions{PropagationPolicy: &background})
	errSvc := k.client.CoreV1().Services(ns).Delete(ctx, rec.KubeName, metav1.DeleteOptions{})
	var errs []error
	for _, err := range []error{errJob, errSvc} {
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
