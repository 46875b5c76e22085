-- 0004: new metric history points land in metric_staging, clustered by
-- run and arrival (seq, numbered by the writer), so that a commit appends
-- to one page per run; they move to the metrics table (which is
-- clustered by run, key and step) in large sorted groups, a run's points
-- at a time (see store/staging.go). Inserting each point straight into
-- metrics dirties a page per (run, key) per commit, which made the
-- write-ahead log grow by about 3 KB per 40-byte point. SQLite only.
-- Frozen: change the schema with a new numbered file.
CREATE TABLE metric_staging (
	run_key BIGINT NOT NULL,
	seq BIGINT NOT NULL,
	key TEXT NOT NULL,
	step BIGINT NOT NULL,
	timestamp BIGINT NOT NULL,
	value DOUBLE PRECISION NOT NULL,
	is_nan BOOLEAN NOT NULL,
	PRIMARY KEY (run_key, seq)
) WITHOUT ROWID;
