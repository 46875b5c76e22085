package tune

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
)

// Storage holds the trials of one study so that a study can be resumed
// after its process dies. The study calls Save whenever a trial starts or
// ends, from one goroutine at a time. Implementations: MemoryStorage,
// FileStorage; the tracking store implements it to keep studies with runs.
type Storage interface {
	// Load returns every trial saved so far, ordered by number, each in the
	// state of its latest Save.
	Load(ctx context.Context) ([]Trial, error)
	// Save records t, replacing any earlier record with the same number.
	// When Save returns nil the record must survive a crash of the process.
	Save(ctx context.Context, t Trial) error
}

var (
	_ Storage = (*MemoryStorage)(nil)
	_ Storage = (*FileStorage)(nil)
)

// MemoryStorage keeps trials in memory; its zero value is ready to use and
// it is safe for concurrent use. It does not survive the process.
type MemoryStorage struct {
	mu     sync.Mutex
	trials map[int]Trial
}

// Load returns copies of the saved trials.
func (m *MemoryStorage) Load(context.Context) ([]Trial, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Trial, 0, len(m.trials))
	for _, t := range m.trials {
		out = append(out, t.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// Save stores a copy of t.
func (m *MemoryStorage) Save(_ context.Context, t Trial) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.trials == nil {
		m.trials = make(map[int]Trial)
	}
	m.trials[t.Number] = t.clone()
	return nil
}

// FileStorage appends each saved trial as one JSON line to a file and syncs
// it to disk before Save returns; the latest line for a trial number wins on
// Load. A final line cut short by a crash is ignored. FileStorage is safe
// for concurrent use; only one process may write the file at a time.
type FileStorage struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// OpenFile opens (creating if needed) the study file at path.
func OpenFile(path string) (*FileStorage, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open study file: %w", err)
	}
	return &FileStorage{path: path, f: f}, nil
}

// Close closes the file.
func (s *FileStorage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// Load reads the file. A malformed line other than a torn last line is an
// error naming file:line. A torn last line is cut off so that later appends
// start on a fresh line.
func (s *FileStorage) Load(context.Context) ([]Trial, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("read study file: %w", err)
	}
	byNumber := map[int]Trial{}
	r := bufio.NewReader(bytes.NewReader(data))
	good := 0 // bytes up to the end of the last complete line
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 { // torn final write: drop it
				if terr := s.f.Truncate(int64(good)); terr != nil {
					return nil, fmt.Errorf("%s:%d: cut torn line: %w", s.path, line, terr)
				}
			}
			break
		}
		var t Trial
		if jerr := json.Unmarshal(b, &t); jerr != nil {
			return nil, fmt.Errorf("%s:%d: %w", s.path, line, jerr)
		}
		byNumber[t.Number] = t
		good += len(b)
	}
	out := make([]Trial, 0, len(byNumber))
	for _, t := range byNumber {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// Save appends t and syncs the file.
func (s *FileStorage) Save(_ context.Context, t Trial) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode trial %d: %w", t.Number, err)
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("write trial %d to %s: %w", t.Number, s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	return nil
}
