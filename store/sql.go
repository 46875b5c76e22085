package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

//go:embed migrations
var migrationFS embed.FS

// DefaultArtifactRoot is the artifact root used when Options leaves it
// empty: the artifact proxy of the tracking server itself, as MLflow's
// server uses with --serve-artifacts.
const DefaultArtifactRoot = "mlflow-artifacts:"

// Options configure a SQLStore. The zero value is valid.
type Options struct {
	// ArtifactRoot is the URI under which experiments get their artifact
	// location: ArtifactRoot + "/" + experiment id.
	ArtifactRoot string
	// Logger receives slow or failed writes; nil means slog.Default().
	Logger *slog.Logger
	// MaxBatch bounds how many queued writes one transaction groups; 0
	// means 256.
	MaxBatch int
}

// SQLStore is the database/sql implementation of Store for SQLite and
// PostgreSQL.
type SQLStore struct {
	d            dialect
	wdb          *sql.DB // the writer's single connection
	rdb          *sql.DB // the reader pool
	artifactRoot string
	log          *slog.Logger
	w            *writer
	staged       *staging // nil unless history is staged (SQLite)
}

var _ Store = (*SQLStore)(nil)

// dialect holds what differs between SQLite and PostgreSQL.
type dialect struct {
	name       string // "sqlite" or "postgres"
	dollarArgs bool   // placeholders are $1, $2, ... instead of ?
}

// rebind rewrites the ? placeholders of q for the dialect.
func (d dialect) rebind(q string) string {
	if !d.dollarArgs || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Open opens the store named by dsn and applies pending migrations.
// dsn is "sqlite:///relative/path.db", "sqlite:////absolute/path.db" (as
// in SQLAlchemy and MLflow), a bare file path, or "postgres://..." /
// "postgresql://..." (pgx syntax; a search_path parameter selects a
// schema).
func Open(ctx context.Context, dsn string, opts Options) (*SQLStore, error) {
	return open(ctx, dsn, opts, math.MaxInt)
}

// open is Open applying the migrations up to version upTo only.
func open(ctx context.Context, dsn string, opts Options, upTo int) (*SQLStore, error) {
	s := &SQLStore{
		artifactRoot: strings.TrimRight(opts.ArtifactRoot, "/"),
		log:          opts.Logger,
	}
	if s.artifactRoot == "" {
		s.artifactRoot = DefaultArtifactRoot
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		err = s.openPostgres(dsn)
	default:
		err = s.openSQLite(sqlitePath(dsn))
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, upTo); err != nil {
		s.wdb.Close()
		s.rdb.Close()
		return nil, err
	}
	if s.d.name == "sqlite" && upTo >= stagingMigration {
		if err := s.loadStaging(ctx); err != nil {
			s.wdb.Close()
			s.rdb.Close()
			return nil, err
		}
	}
	s.w = newWriter(s, opts.MaxBatch)
	return s, nil
}

// sqlitePath returns the file path in a sqlite:// DSN.
func sqlitePath(dsn string) string {
	if rest, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		return strings.TrimPrefix(rest, "/")
	}
	return dsn
}

func (s *SQLStore) openSQLite(path string) error {
	if path == "" {
		return Errorf(InvalidParameterValue, "sqlite database path is empty")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create database directory: %w", err)
		}
	}
	s.d = dialect{name: "sqlite"}
	// WAL with synchronous=FULL fsyncs the log at every commit, so a
	// committed (and therefore acknowledged) write survives a crash of
	// the process or of the machine.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "case_sensitive_like(ON)")
	// Savepoints of grouped writes keep their undo pages in memory, a
	// larger page cache keeps the hot b-tree pages of the metric tables,
	// and checkpointing every 20,000 pages (80 MB of log) rather than
	// 1,000 writes a page that is logged again and again once per
	// checkpoint instead of many times (about 25% more log-batch points/s).
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "cache_size(-65536)")
	q.Add("_pragma", "wal_autocheckpoint(20000)")
	base := "file:" + path + "?" + q.Encode()
	var err error
	if s.wdb, err = sql.Open("sqlite", base+"&_txlock=immediate"); err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetConnMaxIdleTime(0)
	if s.rdb, err = sql.Open("sqlite", base); err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.rdb.SetMaxOpenConns(8)
	s.rdb.SetMaxIdleConns(8)
	if err := s.wdb.Ping(); err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return nil
}

func (s *SQLStore) openPostgres(dsn string) error {
	s.d = dialect{name: "postgres", dollarArgs: true}
	var err error
	if s.wdb, err = sql.Open("pgx", dsn); err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	s.wdb.SetMaxOpenConns(1)
	if s.rdb, err = sql.Open("pgx", dsn); err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	s.rdb.SetMaxOpenConns(16)
	s.rdb.SetMaxIdleConns(16)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.wdb.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	return nil
}

// Dialect returns "sqlite" or "postgres".
func (s *SQLStore) Dialect() string { return s.d.name }

// Close stops the writer after it has committed the queued writes, then
// closes the database.
func (s *SQLStore) Close() error {
	s.w.close()
	err := s.wdb.Close()
	if rerr := s.rdb.Close(); err == nil {
		err = rerr
	}
	return err
}

// migrate applies the embedded migrations of the dialect up to version
// upTo that the schema_migrations table does not list yet, each in its
// own transaction.
func (s *SQLStore) migrate(ctx context.Context, upTo int) error {
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	dir := "migrations/" + s.d.name
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return fmt.Errorf("read embedded migrations: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		if version > upTo {
			break
		}
		var n int
		row := s.wdb.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version)
		if err := row.Scan(&n); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if n > 0 {
			continue
		}
		body, err := migrationFS.ReadFile(dir + "/" + name)
		if err != nil {
			return err
		}
		if err := s.applyMigration(ctx, version, name, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		s.log.Info("applied migration", "dialect", s.d.name, "migration", name)
	}
	return nil
}

func (s *SQLStore) applyMigration(ctx context.Context, version int, name, body string) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range strings.Split(body, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		version, name, nowMillis()); err != nil {
		return err
	}
	return tx.Commit()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// query runs a read query (with ? placeholders) on the reader pool. A
// query that fails because its pooled connection turned out dead (the
// database restarted, say) is retried on another connection: reads are
// idempotent.
func (s *SQLStore) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = s.d.rebind(q)
	for attempt := 0; ; attempt++ {
		rows, err := s.rdb.QueryContext(ctx, q, args...)
		if err == nil {
			return rows, nil
		}
		if attempt == 2 || !isConnError(err) || ctx.Err() != nil {
			return nil, unavailable(err)
		}
	}
}

// row is the result of queryRow, read with Scan like *sql.Row.
type row struct {
	rows *sql.Rows
	err  error
}

// Scan copies the first row into dest, or returns sql.ErrNoRows.
func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return unavailable(err)
		}
		return sql.ErrNoRows
	}
	return r.rows.Scan(dest...)
}

// queryRow runs a one-row read query on the reader pool.
func (s *SQLStore) queryRow(ctx context.Context, q string, args ...any) row {
	rows, err := s.query(ctx, q, args...)
	return row{rows, err}
}

func nowMillis() int64 { return time.Now().UnixMilli() }
