// Package storetest opens throw-away stores for tests: a fresh SQLite
// file always, and a fresh schema of the PostgreSQL database named by the
// MLENV_TEST_POSTGRES environment variable when it is set, so that one
// suite runs against both back ends.
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlenv/mlenv/store"
)

// EnvPostgres names the environment variable holding the DSN of a
// PostgreSQL database the tests may create schemas in.
const EnvPostgres = "MLENV_TEST_POSTGRES"

// quiet discards the stores' migration logs.
var quiet = slog.New(slog.DiscardHandler)

// Stores returns a fresh store per available back end, keyed "sqlite" and
// "postgres"; they are closed and removed when the test ends.
func Stores(t testing.TB) map[string]*store.SQLStore {
	t.Helper()
	out := map[string]*store.SQLStore{"sqlite": SQLite(t)}
	if dsn := os.Getenv(EnvPostgres); dsn != "" {
		out["postgres"] = Postgres(t, dsn)
	}
	return out
}

// Each runs fn as a subtest per back end of Stores.
func Each(t *testing.T, fn func(t *testing.T, s *store.SQLStore)) {
	for name, s := range Stores(t) {
		t.Run(name, func(t *testing.T) { fn(t, s) })
	}
}

// DSNs returns the DSN of a fresh, empty database per available back
// end, keyed "sqlite" and "postgres", for tests that open stores
// themselves; the databases are removed when the test ends.
func DSNs(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{"sqlite": SQLiteDSN(t)}
	if dsn := os.Getenv(EnvPostgres); dsn != "" {
		out["postgres"] = PostgresDSN(t, dsn)
	}
	return out
}

// SQLiteDSN returns the DSN of a fresh SQLite file in a temporary
// directory.
func SQLiteDSN(t testing.TB) string {
	return "sqlite:///" + filepath.Join(t.TempDir(), "mlenv.db")
}

// SQLite opens a store on a fresh SQLite file in a temporary directory.
func SQLite(t testing.TB) *store.SQLStore {
	t.Helper()
	return open(t, SQLiteDSN(t))
}

// open opens a store on dsn, closed when the test ends.
func open(t testing.TB, dsn string) *store.SQLStore {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, store.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var schemaSeq atomic.Int64

// PostgresDSN creates a fresh schema in the database at dsn and returns a
// DSN whose search_path selects it; the schema is dropped when the test
// ends.
func PostgresDSN(t testing.TB, dsn string) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("mlenv_test_%d_%d", time.Now().UnixNano(), schemaSeq.Add(1))
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema in %s=%s: %v", EnvPostgres, dsn, err)
	}
	t.Cleanup(func() {
		db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		db.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// Postgres opens a store on a fresh schema of the database at dsn and
// drops the schema when the test ends.
func Postgres(t testing.TB, dsn string) *store.SQLStore {
	t.Helper()
	return open(t, PostgresDSN(t, dsn))
}
