-- 0002: MLflow 3 logged models, the metrics linked to them, run model
-- inputs and outputs, and the logged model a model version comes from.
-- Frozen: change the schema with a new numbered file.
CREATE TABLE logged_models (
	model_key INTEGER PRIMARY KEY,
	model_id TEXT NOT NULL UNIQUE,
	experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id),
	name TEXT NOT NULL,
	model_type TEXT NOT NULL,
	source_run_id TEXT NOT NULL,
	status TEXT NOT NULL,
	status_message TEXT NOT NULL,
	artifact_location TEXT NOT NULL,
	lifecycle_stage TEXT NOT NULL,
	creation_time BIGINT NOT NULL,
	last_updated_time BIGINT NOT NULL
);
CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id, lifecycle_stage, creation_time);
CREATE INDEX logged_models_by_run ON logged_models (source_run_id);
CREATE TABLE logged_model_tags (
	model_key BIGINT NOT NULL REFERENCES logged_models (model_key),
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (model_key, key)
);
CREATE TABLE logged_model_params (
	model_key BIGINT NOT NULL REFERENCES logged_models (model_key),
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (model_key, key)
);
CREATE TABLE logged_model_metrics (
	model_key BIGINT NOT NULL,
	key TEXT NOT NULL,
	step BIGINT NOT NULL,
	timestamp BIGINT NOT NULL,
	value DOUBLE PRECISION NOT NULL,
	is_nan BOOLEAN NOT NULL,
	run_key BIGINT NOT NULL,
	dataset_name TEXT NOT NULL,
	dataset_digest TEXT NOT NULL,
	PRIMARY KEY (model_key, key, step, timestamp, value, is_nan, run_key, dataset_name, dataset_digest)
) WITHOUT ROWID;
CREATE TABLE run_model_outputs (
	run_key BIGINT NOT NULL REFERENCES runs (run_key),
	model_id TEXT NOT NULL,
	step BIGINT NOT NULL,
	PRIMARY KEY (run_key, model_id)
);
CREATE TABLE run_model_inputs (
	run_key BIGINT NOT NULL REFERENCES runs (run_key),
	model_id TEXT NOT NULL,
	PRIMARY KEY (run_key, model_id)
);
ALTER TABLE model_versions ADD COLUMN model_id TEXT NOT NULL DEFAULT '';
CREATE INDEX model_versions_by_model_id ON model_versions (model_id)
