package store

import "context"

// OpenAt opens a store applying the migrations up to version only, so
// that tests can build a database of an older schema and upgrade it.
func OpenAt(ctx context.Context, dsn string, opts Options, version int) (*SQLStore, error) {
	return open(ctx, dsn, opts, version)
}
