-- 0001: tracking and registry schema. Frozen: change the schema with a new
-- numbered file, never by editing this one.
CREATE TABLE experiments (
	experiment_id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	artifact_location TEXT NOT NULL,
	lifecycle_stage TEXT NOT NULL,
	creation_time BIGINT NOT NULL,
	last_update_time BIGINT NOT NULL
);
CREATE TABLE experiment_tags (
	experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id),
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (experiment_id, key)
);
INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
	VALUES (0, 'Default', '', 'active', CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
CREATE TABLE runs (
	run_key INTEGER PRIMARY KEY,
	run_uuid TEXT NOT NULL UNIQUE,
	experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id),
	name TEXT NOT NULL,
	user_id TEXT NOT NULL,
	status TEXT NOT NULL,
	start_time BIGINT NOT NULL,
	end_time BIGINT,
	artifact_uri TEXT NOT NULL,
	lifecycle_stage TEXT NOT NULL,
	deleted_time BIGINT
);
CREATE INDEX runs_by_experiment ON runs (experiment_id, lifecycle_stage, start_time);
CREATE TABLE params (
	run_key BIGINT NOT NULL REFERENCES runs (run_key),
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (run_key, key)
);
CREATE INDEX params_by_key ON params (key, value);
CREATE TABLE tags (
	run_key BIGINT NOT NULL REFERENCES runs (run_key),
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (run_key, key)
);
CREATE INDEX tags_by_key ON tags (key, value);
CREATE TABLE metrics (
	run_key BIGINT NOT NULL,
	key TEXT NOT NULL,
	step BIGINT NOT NULL,
	timestamp BIGINT NOT NULL,
	value DOUBLE PRECISION NOT NULL,
	is_nan BOOLEAN NOT NULL,
	PRIMARY KEY (run_key, key, step, timestamp, value, is_nan)
) WITHOUT ROWID;
CREATE TABLE latest_metrics (
	run_key BIGINT NOT NULL REFERENCES runs (run_key),
	key TEXT NOT NULL,
	step BIGINT NOT NULL,
	timestamp BIGINT NOT NULL,
	value DOUBLE PRECISION NOT NULL,
	is_nan BOOLEAN NOT NULL,
	PRIMARY KEY (run_key, key)
);
CREATE INDEX latest_metrics_by_value ON latest_metrics (key, value);
CREATE TABLE datasets (
	dataset_key INTEGER PRIMARY KEY,
	experiment_id BIGINT NOT NULL,
	name TEXT NOT NULL,
	digest TEXT NOT NULL,
	source_type TEXT NOT NULL,
	source TEXT NOT NULL,
	schema TEXT NOT NULL,
	profile TEXT NOT NULL,
	UNIQUE (experiment_id, name, digest)
);
CREATE TABLE inputs (
	run_key BIGINT NOT NULL REFERENCES runs (run_key),
	dataset_key BIGINT NOT NULL REFERENCES datasets (dataset_key),
	PRIMARY KEY (run_key, dataset_key)
);
CREATE TABLE input_tags (
	run_key BIGINT NOT NULL,
	dataset_key BIGINT NOT NULL,
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (run_key, dataset_key, key)
);
CREATE TABLE registered_models (
	name TEXT PRIMARY KEY,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	description TEXT NOT NULL,
	user_id TEXT NOT NULL
);
CREATE TABLE registered_model_tags (
	name TEXT NOT NULL,
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (name, key)
);
CREATE TABLE model_versions (
	name TEXT NOT NULL,
	version BIGINT NOT NULL,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL,
	description TEXT NOT NULL,
	user_id TEXT NOT NULL,
	current_stage TEXT NOT NULL,
	source TEXT NOT NULL,
	run_id TEXT NOT NULL,
	run_link TEXT NOT NULL,
	status TEXT NOT NULL,
	status_message TEXT NOT NULL,
	PRIMARY KEY (name, version)
);
CREATE TABLE model_version_tags (
	name TEXT NOT NULL,
	version BIGINT NOT NULL,
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (name, version, key)
);
CREATE TABLE registered_model_aliases (
	name TEXT NOT NULL,
	alias TEXT NOT NULL,
	version BIGINT NOT NULL,
	PRIMARY KEY (name, alias)
)
