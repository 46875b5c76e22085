package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/launch"
)

func init() { register(newJobsCmd) }

// executors are the --executor values, in the order help lists them.
var executors = []string{"local", "slurm", "kubernetes"}

func newJobsCmd() *cobra.Command {
	var o jobsOpts
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Submit and manage jobs of N workers on local processes, Slurm or Kubernetes",
		Long: `jobs runs mlenv commands as jobs of identical workers on an execution
engine: local processes (the default; queued by priority within the machine's
CPUs), Slurm (sbatch) or Kubernetes (an Indexed Job). Every worker runs the
same mlenv binary with the same arguments and finds its rank, the world size
and the rendezvous address in its environment (MLENV_RANK, MLENV_WORLD_SIZE,
MLENV_RENDEZVOUS, MLENV_RESTART_COUNT).

Job records and logs are kept under --state-dir (default ~/.mlenv/jobs).
With a tracking server (--uri or MLFLOW_TRACKING_URI), every submitted job
is also recorded as a run of experiment mlenv-jobs: its state, exit code and
restarts as tags and metrics, its logs as artifacts logs/job.log and
logs/rank-N.log once it ends (a local job's supervisor also uploads the
state tags and the logs so far every few seconds while it runs); list and
status then read the jobs from there.`,
	}
	cmd.PersistentFlags().StringVar(&o.stateDir, "state-dir", "", "directory of job records and logs (default ~/.mlenv/jobs)")
	cmd.PersistentFlags().StringVar(&o.uri, "uri", httpTrackingURI(), "tracking server that records the jobs (default $MLFLOW_TRACKING_URI; empty: --state-dir only)")
	cmd.AddCommand(newJobsSubmitCmd(&o), newJobsListCmd(&o), newJobsStatusCmd(&o),
		newJobsLogsCmd(&o), newJobsCancelCmd(&o), newJobsSuperviseCmd(&o))
	return cmd
}

// jobsOpts are the flags shared by the jobs subcommands.
type jobsOpts struct {
	stateDir string
	uri      string // tracking server URI; "" keeps job records local only
}

// httpTrackingURI returns MLFLOW_TRACKING_URI when it names an HTTP
// server, else "" (a file store or "embedded" cannot hold job records).
func httpTrackingURI() string {
	if uri := os.Getenv("MLFLOW_TRACKING_URI"); strings.HasPrefix(uri, "http") {
		return uri
	}
	return ""
}

// openJobStore returns the job store at dir or the default directory.
func openJobStore(dir string) (*launch.Store, error) {
	if dir == "" {
		var err error
		if dir, err = launch.DefaultStoreDir(); err != nil {
			return nil, err
		}
	}
	return &launch.Store{Root: dir}, nil
}

// jobsExecutor returns the executor named name over store.
func jobsExecutor(name string, store *launch.Store) (launch.Executor, error) {
	switch name {
	case "local":
		return launch.NewLocal(store, 0, slog.Default()), nil
	case "slurm":
		return launch.NewSlurm(store, slog.Default()), nil
	case "kubernetes":
		return newKubernetesExecutor(store)
	}
	return nil, usagef("--executor %q: want one of %s", name, strings.Join(executors, ", "))
}

// jobExecutor opens the store and returns the executor that runs job id.
func jobExecutor(stateDir, id string) (launch.Executor, launch.JobID, error) {
	store, err := openJobStore(stateDir)
	if err != nil {
		return nil, "", err
	}
	rec, err := store.Get(launch.JobID(id))
	if err != nil {
		return nil, "", err
	}
	e, err := jobsExecutor(rec.Executor, store)
	return e, rec.ID, err
}

// submitFlags are the flags of mlenv jobs submit.
type submitFlags struct {
	executor string
	req      launch.JobRequest
	env      []string
	wait     bool
	asJSON   bool
}

func newJobsSubmitCmd(o *jobsOpts) *cobra.Command {
	var f submitFlags
	cmd := &cobra.Command{
		Use:   "submit [flags] -- ARGS...",
		Short: "Run `mlenv ARGS...` on N workers, e.g. mlenv jobs submit --workers 2 -- train job.yaml",
		Long: `submit starts a job whose every worker runs this mlenv binary with ARGS and
prints the job id. A local job runs under a detached supervisor process, so
the command returns at once; --wait streams the log instead and exits
non-zero unless the job succeeds. When a worker fails, all workers restart
(up to --max-restarts) with MLENV_RESTART_COUNT increased.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJobsSubmit(cmd, *o, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.executor, "executor", "local", "where to run: "+strings.Join(executors, ", "))
	fl.IntVar(&f.req.Workers, "workers", 1, "number of workers")
	fl.StringVar(&f.req.Name, "name", "", "job name (default the first argument)")
	fl.IntVar(&f.req.CPUs, "cpus", 1, "CPUs per worker")
	fl.IntVar(&f.req.GPUs, "gpus", 0, "GPUs per worker (slurm, kubernetes)")
	fl.StringVar(&f.req.Memory, "memory", "", "memory per worker, e.g. 4Gi (kubernetes)")
	fl.IntVar(&f.req.Priority, "priority", 0, "queue priority, higher first (local)")
	fl.IntVar(&f.req.MaxRestarts, "max-restarts", 0, "restarts of all workers after a worker fails")
	fl.StringVar(&f.req.Partition, "partition", "", "partition (slurm)")
	fl.StringVar(&f.req.Image, "image", "", "container image holding mlenv (kubernetes)")
	fl.StringVar(&f.req.Namespace, "namespace", "", "namespace (kubernetes, default \"default\")")
	fl.StringArrayVar(&f.env, "env", nil, "extra worker environment variable NAME=VALUE (repeatable)")
	fl.BoolVar(&f.wait, "wait", false, "stream the log until the job ends; exit 1 unless it succeeded")
	fl.BoolVar(&f.asJSON, "json", false, "print the job status as JSON")
	return cmd
}

func runJobsSubmit(cmd *cobra.Command, o jobsOpts, f submitFlags, args []string) error {
	if f.req.Workers < 1 {
		return usagef("--workers %d: must be at least 1", f.req.Workers)
	}
	if f.req.CPUs < 1 {
		return usagef("--cpus %d: must be at least 1", f.req.CPUs)
	}
	if f.req.GPUs < 0 || f.req.MaxRestarts < 0 {
		return usagef("--gpus and --max-restarts must not be negative")
	}
	f.req.Env = map[string]string{}
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("--env %q: want NAME=VALUE", kv)
		}
		f.req.Env[k] = v
	}
	f.req.Args = args
	store, err := openJobStore(o.stateDir)
	if err != nil {
		return err
	}
	e, err := jobsExecutor(f.executor, store)
	if err != nil {
		return err
	}
	c, err := jobsTracking(o.uri)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	id, err := submitJob(ctx, e, store, f.req, o.uri)
	if err != nil {
		return err
	}
	if c != nil {
		if err := recordJob(ctx, c, store, e, id); err != nil {
			return fmt.Errorf("job %s submitted, but not recorded on %s: %w", id, o.uri, err)
		}
	}
	if !f.wait {
		return printJobStatus(cmd.OutOrStdout(), e, id, f.asJSON)
	}
	return waitJob(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), e, id, f.asJSON, func(st launch.Status) error {
		if c == nil {
			return nil
		}
		return syncJobRun(ctx, c, store, e, st)
	})
}

// submitJob starts req on e. A local job runs under a detached
// `mlenv jobs supervise` process, so it outlives the submitting command;
// the supervisor ends the job's run on the tracking server at uri, if any.
func submitJob(ctx context.Context, e launch.Executor, store *launch.Store, req launch.JobRequest, uri string) (launch.JobID, error) {
	local, ok := e.(*launch.Local)
	if !ok {
		return e.Submit(ctx, req)
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the mlenv binary: %w", err)
	}
	return local.SubmitDetached(ctx, req, []string{self, "jobs", "supervise", "--state-dir", store.Root, "--uri", uri})
}

// waitJob streams job id's rank-prefixed log to logw until the job ends,
// calls end (when not nil) with the final status and prints the status to
// w. It returns an error naming the state and exit code unless the job
// succeeded; mlenv then exits with the job's exit code.
func waitJob(ctx context.Context, w, logw io.Writer, e launch.Executor, id launch.JobID, asJSON bool, end func(launch.Status) error) error {
	if err := copyLogs(ctx, logw, e, id, true); err != nil {
		return err
	}
	st, err := e.Status(ctx, id)
	if err != nil {
		return err
	}
	if end != nil {
		if err := end(st); err != nil {
			return err
		}
	}
	if err := writeJobStatus(w, st, asJSON); err != nil {
		return err
	}
	if st.State != launch.Succeeded {
		return withExitCode(fmt.Errorf("job %s %s (exit code %d): %s", id, st.State, st.ExitCode, st.Message), st.ExitCode)
	}
	return nil
}

func newJobsListCmd(o *jobsOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first (from the tracking server when one is configured)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sts, err := listJobs(cmd.Context(), *o)
			if err != nil {
				return err
			}
			if asJSON {
				return writeTrackingJSON(cmd.OutOrStdout(), sts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEXECUTOR\tSTATE\tWORKERS\tRESTARTS\tEXIT\tNAME")
			for _, st := range sts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", st.ID, st.Executor, st.State, st.Workers, st.Restarts, st.ExitCode, st.Name)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// listJobs returns the status of the jobs in the state directory, asking
// the engine about unfinished ones (keeping the record when it cannot
// answer). With a tracking server it first brings the runs of those jobs
// up to date and then returns the jobs recorded there instead.
func listJobs(ctx context.Context, o jobsOpts) ([]launch.Status, error) {
	store, err := openJobStore(o.stateDir)
	if err != nil {
		return nil, err
	}
	c, err := jobsTracking(o.uri)
	if err != nil {
		return nil, err
	}
	recs, err := store.List()
	if err != nil {
		return nil, err
	}
	sts := make([]launch.Status, 0, len(recs))
	for _, rec := range recs {
		st := rec.Status
		e, err := jobsExecutor(rec.Executor, store)
		if err != nil {
			sts = append(sts, st)
			continue
		}
		if !st.State.Final() {
			if fresh, err := e.Status(ctx, rec.ID); err == nil {
				st = fresh
			}
		}
		if c != nil {
			if err := syncJobRun(ctx, c, store, e, st); err != nil {
				return nil, err
			}
		}
		sts = append(sts, st)
	}
	if c == nil {
		return sts, nil
	}
	return serverJobs(ctx, c, "")
}

// jobStatus returns job id's status from the state directory and its
// engine, bringing its tracking run up to date; a job unknown there is
// looked up on the tracking server, when one is configured.
func jobStatus(ctx context.Context, o jobsOpts, id string) (launch.Status, error) {
	c, err := jobsTracking(o.uri)
	if err != nil {
		return launch.Status{}, err
	}
	store, err := openJobStore(o.stateDir)
	if err != nil {
		return launch.Status{}, err
	}
	rec, err := store.Get(launch.JobID(id))
	if errors.Is(err, launch.ErrNotFound) && c != nil && !strings.ContainsAny(id, `'\`) {
		sts, serr := serverJobs(ctx, c, fmt.Sprintf("tags.`mlenv.job.id` = '%s'", id))
		switch {
		case serr != nil:
			return launch.Status{}, serr
		case len(sts) > 0:
			return sts[0], nil
		}
	}
	if err != nil {
		return launch.Status{}, err
	}
	e, err := jobsExecutor(rec.Executor, store)
	if err != nil {
		return launch.Status{}, err
	}
	st, err := e.Status(ctx, rec.ID)
	if err != nil || c == nil {
		return st, err
	}
	return st, syncJobRun(ctx, c, store, e, st)
}

func newJobsStatusCmd(o *jobsOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a job's state, exit code and restarts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := jobStatus(cmd.Context(), *o, args[0])
			if err != nil {
				return err
			}
			return writeJobStatus(cmd.OutOrStdout(), st, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func printJobStatus(w io.Writer, e launch.Executor, id launch.JobID, asJSON bool) error {
	st, err := e.Status(context.Background(), id)
	if err != nil {
		return err
	}
	return writeJobStatus(w, st, asJSON)
}

func writeJobStatus(w io.Writer, st launch.Status, asJSON bool) error {
	if asJSON {
		return writeTrackingJSON(w, st)
	}
	fmt.Fprintf(w, "id:        %s\nname:      %s\nexecutor:  %s\nstate:     %s\nworkers:   %d\nrestarts:  %d\nexit code: %d\n",
		st.ID, st.Name, st.Executor, st.State, st.Workers, st.Restarts, st.ExitCode)
	if st.Message != "" {
		fmt.Fprintf(w, "message:   %s\n", st.Message)
	}
	fmt.Fprintf(w, "submitted: %s\n", st.Submitted.Local().Format(time.DateTime))
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"started:  ", st.Started}, {"finished: ", st.Finished}} {
		if !t.at.IsZero() {
			fmt.Fprintf(w, "%s %s\n", t.name, t.at.Local().Format(time.DateTime))
		}
	}
	return nil
}

func newJobsLogsCmd(o *jobsOpts) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a job's log, every line prefixed with the worker's rank",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, id, err := jobExecutor(o.stateDir, args[0])
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return copyLogs(ctx, cmd.OutOrStdout(), e, id, follow)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the job ends")
	return cmd
}

func copyLogs(ctx context.Context, w io.Writer, e launch.Executor, id launch.JobID, follow bool) error {
	r, err := e.Logs(ctx, id, follow)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("job %s log: %w", id, err)
	}
	return nil
}

func newJobsCancelCmd(o *jobsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Stop a queued or running job and everything it started",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, id, err := jobExecutor(o.stateDir, args[0])
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			if err := e.Cancel(ctx, id); err != nil {
				return err
			}
			st, err := e.Status(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", id, st.State)
			return nil
		},
	}
}

// newJobsSuperviseCmd is the detached process that runs one local job; the
// local executor starts it, people do not.
func newJobsSuperviseCmd(o *jobsOpts) *cobra.Command {
	return &cobra.Command{
		Use:    "supervise ID",
		Short:  "Run a submitted local job to its end (started by jobs submit)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := openJobStore(o.stateDir)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			// Standard input closes once the submitter has recorded this
			// process's pid (see launch.Local.SubmitDetached).
			if _, err := io.Copy(io.Discard, cmd.InOrStdin()); err != nil {
				return err
			}
			c, err := jobsTracking(o.uri)
			if err != nil {
				return err
			}
			local := launch.NewLocal(store, 0, slog.Default())
			st, err := runFollowed(ctx, c, store, local, launch.JobID(args[0]))
			if err != nil {
				return err
			}
			slog.Info("job ended", "job", st.ID, "state", st.State, "exit_code", st.ExitCode)
			if c == nil {
				return nil
			}
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			return syncJobRun(tctx, c, store, local, st)
		},
	}
}
