package tunejob

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/mlenv/mlenv/job"
	"github.com/mlenv/mlenv/tune"
)

// ErrNoStudy is returned by ReadMeta for a directory that holds no study.
var ErrNoStudy = errors.New("no such study")

// Files of a study directory.
const (
	metaFile   = "study.json"
	trialsFile = "trials.jsonl"
)

// Meta describes a study; it is written once when the study starts, to
// DIR/study.json, and read by resume, status and best. ParentRunID is the
// tracking run the trials' runs are nested under ("" without tracking).
type Meta struct {
	Name        string       `json:"name"`
	Spec        string       `json:"spec"`
	Metric      string       `json:"metric"`
	Maximize    bool         `json:"maximize"`
	Params      []tune.Param `json:"params"`
	ParentRunID string       `json:"parent_run_id,omitempty"`
}

// StudyDir is where the study called name keeps its files under a
// tracking directory.
func StudyDir(trackingDir, name string) string {
	return filepath.Join(trackingDir, "studies", name)
}

// NewMeta describes a new study of spec called name.
func NewMeta(spec *job.Spec, name string, space *tune.Space) *Meta {
	return &Meta{Name: name, Spec: spec.File(), Metric: spec.Search.Metric,
		Maximize: spec.Search.Maximize(), Params: slices.Clone(space.Params())}
}

// Space rebuilds the study's search space.
func (m *Meta) Space() (*tune.Space, error) { return tune.NewSpace(m.Params...) }

// SameSearch reports why m cannot resume as a study of other, or nil when
// it can: the metric, its direction and the space must be the same.
func (m *Meta) SameSearch(other *Meta) error {
	a, _ := json.Marshal(m.Params)
	b, _ := json.Marshal(other.Params)
	switch {
	case m.Metric != other.Metric || m.Maximize != other.Maximize:
		return fmt.Errorf("study %q optimises %s (maximize %t), the spec %s (maximize %t)", m.Name, m.Metric, m.Maximize, other.Metric, other.Maximize)
	case string(a) != string(b):
		return fmt.Errorf("study %q has a different search space than the spec", m.Name)
	}
	return nil
}

// ReadMeta reads the study in dir; ErrNoStudy (wrapped) when there is none.
func ReadMeta(dir string) (*Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoStudy)
	}
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, metaFile), err)
	}
	return &m, nil
}

// WriteMeta writes m to dir, creating it, atomically: a crash leaves the
// old file or the new one.
func WriteMeta(dir string, m *Meta) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, metaFile))
}

// OpenTrials opens the study's trial storage in dir. The caller closes it.
func OpenTrials(dir string) (*tune.FileStorage, error) {
	return tune.OpenFile(filepath.Join(dir, trialsFile))
}
