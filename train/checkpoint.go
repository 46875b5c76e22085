package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/optim"
)

// A checkpoint is a directory CheckpointDir/step-<N> holding
// weights.safetensors (the model's state dict), optimizer.safetensors (the
// optimizer's moments, accumulators, step count and learning rate, see
// optim.SaveState) and state.json (the position in
// the data and the fitted transforms). It is written under a temporary
// name and renamed, so a crash never leaves a half-written checkpoint; the
// two newest are kept.
const (
	checkpointPrefix = "step-"
	checkpointKeep   = 2
	weightsFile      = "weights.safetensors"
	optimizerFile    = "optimizer.safetensors"
	stateFile        = "state.json"
)

// checkpoint is the content of state.json.
type checkpoint struct {
	Position   position         `json:"position"`
	Rows       int64            `json:"rows"`
	Skipped    int64            `json:"skipped,omitempty"` // malformed training rows per pass
	Transforms *data.Transforms `json:"transforms"`
	Optimizer  string           `json:"optimizer"`
	dir        string
}

// checkpoint writes the current state, if checkpoints are enabled.
func (r *run) checkpoint() error {
	root := r.cfg.CheckpointDir
	if root == "" || !r.leader() {
		return nil
	}
	defer r.timed(&r.timing.Checkpoint)()
	if r.pos == r.saved {
		return nil // written at this position already (epoch end after a periodic one)
	}
	name := fmt.Sprintf("%s%09d", checkpointPrefix, r.pos.Step)
	final := filepath.Join(root, name)
	tmp := filepath.Join(root, ".tmp-"+name)
	if err := r.writeCheckpoint(tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("train: checkpoint at step %d: %w", r.pos.Step, err)
	}
	// A checkpoint of this step with an older position (an evaluation has
	// run since) is replaced; the previous step's checkpoint remains
	// meanwhile.
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("train: checkpoint at step %d: %w", r.pos.Step, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("train: checkpoint at step %d: %w", r.pos.Step, err)
	}
	r.saved = r.pos
	if r.cfg.OnCheckpoint != nil {
		if err := r.cfg.OnCheckpoint(final); err != nil {
			return fmt.Errorf("train: checkpoint at step %d: %w", r.pos.Step, err)
		}
	}
	return pruneCheckpoints(root)
}

func (r *run) writeCheckpoint(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := nn.SaveFile(filepath.Join(dir, weightsFile), r.net); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, optimizerFile))
	if err != nil {
		return err
	}
	if err := errors.Join(optim.SaveState(f, r.opt), f.Close()); err != nil {
		return err
	}
	state, err := json.Marshal(checkpoint{Position: r.pos, Rows: r.rows, Skipped: r.bad, Transforms: r.t, Optimizer: r.cfg.Optimizer})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, stateFile), state, 0o644)
}

// CheckpointFiles are the names of the files in a checkpoint directory.
func CheckpointFiles() []string { return []string{weightsFile, optimizerFile, stateFile} }

// IsCheckpointName reports whether name is the name of a checkpoint
// directory: step-N.
func IsCheckpointName(name string) bool {
	n, ok := strings.CutPrefix(name, checkpointPrefix)
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// HasCheckpoint reports whether root holds a checkpoint to resume from.
func HasCheckpoint(root string) (bool, error) {
	names, err := checkpoints(root)
	return len(names) > 0, err
}

// checkpoints lists the checkpoint directories under root, oldest first.
func checkpoints(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("train: checkpoints: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && IsCheckpointName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // zero-padded step numbers sort numerically
	return names, nil
}

func pruneCheckpoints(root string) error {
	names, err := checkpoints(root)
	if err != nil {
		return err
	}
	for _, n := range names[:max(0, len(names)-checkpointKeep)] {
		if err := os.RemoveAll(filepath.Join(root, n)); err != nil {
			return fmt.Errorf("train: prune checkpoint: %w", err)
		}
	}
	return nil
}

// latestCheckpoint reads the newest checkpoint under root; it returns nil
// when there is none.
func latestCheckpoint(root string) (*checkpoint, error) {
	if root == "" {
		return nil, errors.New("train: Resume needs a CheckpointDir")
	}
	names, err := checkpoints(root)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	dir := filepath.Join(root, names[len(names)-1])
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("train: resume: %w", err)
	}
	ck := &checkpoint{dir: dir}
	if err := json.Unmarshal(b, ck); err != nil {
		return nil, fmt.Errorf("train: resume: %s: %w", filepath.Join(dir, stateFile), err)
	}
	if ck.Transforms == nil {
		return nil, fmt.Errorf("train: resume: %s: no transforms", filepath.Join(dir, stateFile))
	}
	return ck, nil
}

// restore loads the checkpoint's weights, optimizer state and position.
func (r *run) restore(ck *checkpoint) error {
	if ck.Optimizer != r.cfg.Optimizer {
		return fmt.Errorf("train: resume: checkpoint %s was written by optimizer %q, the run uses %q", ck.dir, ck.Optimizer, r.cfg.Optimizer)
	}
	if err := nn.LoadFile(filepath.Join(ck.dir, weightsFile), r.net); err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if err := loadOptimizer(filepath.Join(ck.dir, optimizerFile), r.opt); err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	r.pos, r.saved, r.startStep = ck.Position, ck.Position, ck.Position.Step
	return nil
}

func loadOptimizer(path string, o optim.Optimizer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := optim.LoadState(f, o); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
