package launch

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Record is what a Store keeps for one job: its request, its status and
// the engine's handle on it.
type Record struct {
	Status
	Request JobRequest `json:"request"`

	SlurmID       string `json:"slurm_id,omitempty"`       // Slurm job number
	KubeName      string `json:"kube_name,omitempty"`      // Kubernetes Job and Service name
	SupervisorPID int    `json:"supervisor_pid,omitempty"` // local job run by a detached supervisor
}

// Store keeps job records as JSON files, one directory per job holding
// job.json and the job's log, under a root directory (~/.mlenv/jobs by
// default). Writes are atomic (write and rename), so readers in other
// processes never see half a record. The tracking server will hold job
// records later; Store is the local stand-in.
type Store struct {
	Root string
}

// DefaultStoreDir returns ~/.mlenv/jobs.
func DefaultStoreDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("job state directory: %w", err)
	}
	return filepath.Join(home, ".mlenv", "jobs"), nil
}

// Dir returns the job's directory.
func (s *Store) Dir(id JobID) string { return filepath.Join(s.Root, string(id)) }

// LogPath returns the path of the job's combined log.
func (s *Store) LogPath(id JobID) string { return filepath.Join(s.Dir(id), "job.log") }

// Create makes a new job directory with a fresh id for executor and
// writes the first record for req in state Queued.
func (s *Store) Create(executor string, req JobRequest) (*Record, error) {
	var b [4]byte
	rand.Read(b[:])
	id := JobID(time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:]))
	if err := os.MkdirAll(s.Dir(id), 0o755); err != nil {
		return nil, fmt.Errorf("job state directory: %w", err)
	}
	rec := &Record{Request: req, Status: Status{ID: id, Name: req.Name, Executor: executor,
		State: Queued, Workers: req.Workers, Submitted: time.Now().UTC()}}
	return rec, s.Put(rec)
}

// Put writes rec atomically.
func (s *Store) Put(rec *Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(s.Dir(rec.ID), "job.json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("job %s: %w", rec.ID, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("job %s: %w", rec.ID, err)
	}
	return nil
}

// Get reads the record of id; ErrNotFound when there is none.
func (s *Store) Get(id JobID) (*Record, error) {
	if id == "" || filepath.Base(string(id)) != string(id) {
		return nil, fmt.Errorf("job id %q: %w", id, ErrNotFound)
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(id), "job.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("job %s: %s: %w", id, filepath.Join(s.Dir(id), "job.json"), err)
	}
	return &rec, nil
}

// List returns every record, newest first.
func (s *Store) List() ([]*Record, error) {
	entries, err := os.ReadDir(s.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []*Record
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rec, err := s.Get(JobID(e.Name()))
		if errors.Is(err, ErrNotFound) {
			continue // a directory being created
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b *Record) int {
		return cmp.Or(b.Submitted.Compare(a.Submitted), cmp.Compare(b.ID, a.ID))
	})
	return recs, nil
}

// update reads id's record, applies f and writes it back.
func (s *Store) update(id JobID, f func(*Record)) (*Record, error) {
	rec, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	f(rec)
	return rec, s.Put(rec)
}
