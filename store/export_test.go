package store

import (
	"context"
	"testing"
)

// OpenAt opens a store applying the migrations up to version only, so
// that tests can build a database of an older schema and upgrade it.
func OpenAt(ctx context.Context, dsn string, opts Options, version int) (*SQLStore, error) {
	return open(ctx, dsn, opts, version)
}

// StagedPoints counts the history points waiting in metric_staging.
func StagedPoints(t testing.TB, s *SQLStore) int {
	t.Helper()
	var n int
	if err := s.queryRow(context.Background(), `SELECT COUNT(*) FROM metric_staging`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// SetStagingLimit sets how many staged points make the writer move some,
// and about how many it moves per group commit then.
func SetStagingLimit(s *SQLStore, limit, slice int) {
	s.staged.mu.Lock()
	s.staged.limit, s.staged.slice = limit, slice
	s.staged.mu.Unlock()
}
