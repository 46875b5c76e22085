-- 0002: an append-only log in front of the metric history. Frozen.
-- log-batch appends points here in arrival order, so a batch of many keys
-- writes a few adjacent pages instead of one page per key of the
-- (run, key, step)-clustered history; the store moves a run's logged
-- points into metrics in large sorted chunks. Existing data stays in
-- metrics, so upgrading needs no copy.
CREATE TABLE metric_log (
	seq BIGSERIAL PRIMARY KEY,
	run_key BIGINT NOT NULL,
	key TEXT NOT NULL,
	step BIGINT NOT NULL,
	timestamp BIGINT NOT NULL,
	value DOUBLE PRECISION NOT NULL,
	is_nan BOOLEAN NOT NULL
);
CREATE INDEX metric_log_by_run ON metric_log (run_key)
