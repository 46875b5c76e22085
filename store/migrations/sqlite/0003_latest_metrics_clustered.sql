-- 0003: keep latest_metrics clustered by its primary key (WITHOUT ROWID),
-- so the upsert that every logged metric key does touches two b-trees
-- (the table and the (key, value) index) instead of three (the rowid
-- table, its primary-key index and the (key, value) index). SQLite only;
-- PostgreSQL has no rowid tables. Frozen: change the schema with a new
-- numbered file.
CREATE TABLE latest_metrics_clustered (
	run_key BIGINT NOT NULL REFERENCES runs (run_key),
	key TEXT NOT NULL,
	step BIGINT NOT NULL,
	timestamp BIGINT NOT NULL,
	value DOUBLE PRECISION NOT NULL,
	is_nan BOOLEAN NOT NULL,
	PRIMARY KEY (run_key, key)
) WITHOUT ROWID;
INSERT INTO latest_metrics_clustered (run_key, key, step, timestamp, value, is_nan)
	SELECT run_key, key, step, timestamp, value, is_nan FROM latest_metrics;
DROP TABLE latest_metrics;
ALTER TABLE latest_metrics_clustered RENAME TO latest_metrics;
CREATE INDEX latest_metrics_by_value ON latest_metrics (key, value)
