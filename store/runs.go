package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Run statuses, as in MLflow.
var runStatuses = map[string]bool{"RUNNING": true, "SCHEDULED": true, "FINISHED": true, "FAILED": true, "KILLED": true}

// System tags MLflow keeps in step with run attributes.
const (
	TagRunName = "mlflow.runName"
	TagUser    = "mlflow.user"
	TagParent  = "mlflow.parentRunId"
)

const runCols = `run_key, run_uuid, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage`

func runNotFound(id string) error {
	return Errorf(ResourceDoesNotExist, "no run with id %q", id)
}

// newRunID returns a random 32-character hex id, the form MLflow uses.
func newRunID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runName picks the name of a new run: the given one, else the
// mlflow.runName tag, else a generated one.
func runName(r RunCreate, id string) string {
	if r.RunName != "" {
		return r.RunName
	}
	for _, t := range r.Tags {
		if t.Key == TagRunName && t.Value != "" {
			return t.Value
		}
	}
	return "run-" + id[:8]
}

// CreateRun implements Tracking. The experiment is checked and the run
// inserted in one write, with its tags in one multi-row insert.
func (s *SQLStore) CreateRun(ctx context.Context, r RunCreate) (*Run, error) {
	exp, err := parseExperimentID(r.ExperimentID)
	if err != nil {
		return nil, err
	}
	for _, t := range r.Tags {
		if err := checkTag(t, MaxTagValueLength); err != nil {
			return nil, err
		}
	}
	id := newRunID()
	run := &Run{Info: RunInfo{
		RunID: id, ExperimentID: strconv.FormatInt(exp, 10), RunName: runName(r, id), UserID: r.UserID,
		Status: "RUNNING", StartTime: r.StartTime, LifecycleStage: LifecycleActive,
	}}
	if run.Info.StartTime == 0 {
		run.Info.StartTime = nowMillis()
	}
	tags := map[string]string{}
	for _, t := range r.Tags {
		tags[t.Key] = t.Value
	}
	if run.Info.UserID == "" {
		run.Info.UserID = tags[TagUser]
	}
	tags[TagRunName] = run.Info.RunName
	for k, v := range tags {
		run.Tags = append(run.Tags, Tag{k, v})
	}
	sortTags(run.Tags)
	err = s.write(ctx, func(t *tx) error {
		location, err := activeExperiment(t, exp, "a run")
		if err != nil {
			return err
		}
		i := &run.Info
		i.ArtifactURI = s.experimentLocation(i.ExperimentID, location) + "/" + id + "/artifacts"
		var key int64
		if err := t.queryRow(`INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, artifact_uri, lifecycle_stage)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING run_key`,
			i.RunID, exp, i.RunName, i.UserID, i.Status, i.StartTime, i.ArtifactURI, i.LifecycleStage).Scan(&key); err != nil {
			return err
		}
		args := make([]any, 0, 3*len(run.Tags))
		for _, tag := range run.Tags {
			args = append(args, key, tag.Key, tag.Value)
		}
		_, err = t.exec(`INSERT INTO tags (run_key, key, value) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(run.Tags)), ","), args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// activeExperiment returns the stored artifact location of experiment
// exp, which must exist and be active for creating what in it.
func activeExperiment(t *tx, exp int64, what string) (string, error) {
	var stage, location string
	err := t.queryRow(`SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = ?`, exp).Scan(&stage, &location)
	if errors.Is(err, sql.ErrNoRows) {
		return "", experimentNotFound(strconv.FormatInt(exp, 10))
	}
	if err != nil {
		return "", err
	}
	if stage != LifecycleActive {
		return "", Errorf(InvalidParameterValue, "cannot create %s in experiment %d: it is deleted", what, exp)
	}
	return location, nil
}

func upsertTags(t *tx, key int64, tags []Tag) error {
	for _, tag := range tags {
		if _, err := t.exec(`INSERT INTO tags (run_key, key, value) VALUES (?, ?, ?)
			ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value`, key, tag.Key, tag.Value); err != nil {
			return err
		}
		if tag.Key == TagRunName {
			if _, err := t.exec(`UPDATE runs SET name = ? WHERE run_key = ?`, tag.Value, key); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookupRun returns the internal key and lifecycle stage of a run inside
// a write.
func lookupRun(t *tx, id string) (int64, string, error) {
	var key int64
	var stage string
	err := t.queryRow(`SELECT run_key, lifecycle_stage FROM runs WHERE run_uuid = ?`, id).Scan(&key, &stage)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", runNotFound(id)
	}
	return key, stage, err
}

// activeRun is lookupRun for writes that need an active run, answered
// from the writer's cache when it can.
func activeRun(t *tx, id string) (int64, error) {
	st, ok := t.w.runs[id]
	if !ok {
		var err error
		if st.key, st.stage, err = lookupRun(t, id); err != nil {
			return 0, err
		}
		if len(t.w.runs) >= maxCachedRuns {
			clear(t.w.runs)
		}
		t.w.runs[id] = st
	}
	if st.stage != LifecycleActive {
		return 0, Errorf(InvalidParameterValue, "the run %s must be in the 'active' state; its current state is %s", id, st.stage)
	}
	return st.key, nil
}

// maxCachedRuns bounds the writer's run cache.
const maxCachedRuns = 100_000

// GetRun implements Tracking.
func (s *SQLStore) GetRun(ctx context.Context, id string) (*Run, error) {
	runs, err := s.scanRuns(ctx, `SELECT `+runCols+` FROM runs WHERE run_uuid = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, runNotFound(id)
	}
	return &runs[0], nil
}

// scanRuns runs a query selecting runCols and loads the runs' data.
func (s *SQLStore) scanRuns(ctx context.Context, q string, args ...any) ([]Run, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var runs []Run
	var keys []int64
	for rows.Next() {
		var r Run
		var key, exp int64
		var end sql.NullInt64
		i := &r.Info
		if err := rows.Scan(&key, &i.RunID, &exp, &i.RunName, &i.UserID, &i.Status, &i.StartTime, &end, &i.ArtifactURI, &i.LifecycleStage); err != nil {
			return nil, err
		}
		i.ExperimentID = strconv.FormatInt(exp, 10)
		if end.Valid {
			i.EndTime = &end.Int64
		}
		runs = append(runs, r)
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	return runs, s.loadRunData(ctx, runs, keys)
}

// loadRunData fills latest metrics, params, tags and inputs of runs,
// whose internal keys are keys.
func (s *SQLStore) loadRunData(ctx context.Context, runs []Run, keys []int64) error {
	if len(runs) == 0 {
		return nil
	}
	if err := s.settle(ctx, keys...); err != nil {
		return err
	}
	idx := make(map[int64]*Run, len(runs))
	args := make([]any, len(keys))
	for i, k := range keys {
		idx[k] = &runs[i]
		args[i] = k
	}
	in := `(` + placeholders(len(args)) + `)`
	err := s.each(ctx, `SELECT run_key, key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_key IN `+in+` ORDER BY key`, args,
		func(rows *sql.Rows) error {
			var k int64
			var m Metric
			var isNaN bool
			if err := rows.Scan(&k, &m.Key, &m.Value, &m.Timestamp, &m.Step, &isNaN); err != nil {
				return err
			}
			if isNaN {
				m.Value = Float(math.NaN())
			}
			idx[k].Metrics = append(idx[k].Metrics, m)
			return nil
		})
	if err != nil {
		return err
	}
	for _, table := range []string{"params", "tags"} {
		err := s.each(ctx, `SELECT run_key, key, value FROM `+table+` WHERE run_key IN `+in+` ORDER BY key`, args,
			func(rows *sql.Rows) error {
				var k int64
				var key, value string
				if err := rows.Scan(&k, &key, &value); err != nil {
					return err
				}
				if table == "params" {
					idx[k].Params = append(idx[k].Params, Param{key, value})
				} else {
					idx[k].Tags = append(idx[k].Tags, Tag{key, value})
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	if err := s.loadModelIO(ctx, idx, in, args); err != nil {
		return err
	}
	return s.loadInputs(ctx, idx, in, args)
}

// loadModelIO fills the model inputs and outputs of the runs in idx.
func (s *SQLStore) loadModelIO(ctx context.Context, idx map[int64]*Run, in string, args []any) error {
	err := s.each(ctx, `SELECT run_key, model_id FROM run_model_inputs WHERE run_key IN `+in+` ORDER BY model_id`, args,
		func(rows *sql.Rows) error {
			var k int64
			var m ModelInput
			if err := rows.Scan(&k, &m.ModelID); err != nil {
				return err
			}
			idx[k].ModelInputs = append(idx[k].ModelInputs, m)
			return nil
		})
	if err != nil {
		return err
	}
	return s.each(ctx, `SELECT run_key, model_id, step FROM run_model_outputs WHERE run_key IN `+in+` ORDER BY step, model_id`, args,
		func(rows *sql.Rows) error {
			var k int64
			var m ModelOutput
			if err := rows.Scan(&k, &m.ModelID, &m.Step); err != nil {
				return err
			}
			idx[k].ModelOutputs = append(idx[k].ModelOutputs, m)
			return nil
		})
}

// each runs a read query and calls fn for every row.
func (s *SQLStore) each(ctx context.Context, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return unavailable(rows.Err())
}

// UpdateRun implements Tracking.
func (s *SQLStore) UpdateRun(ctx context.Context, u RunUpdate) (*RunInfo, error) {
	if u.Status != "" && !runStatuses[u.Status] {
		return nil, Errorf(InvalidParameterValue, "invalid run status %q: want RUNNING, SCHEDULED, FINISHED, FAILED or KILLED", u.Status)
	}
	err := s.write(ctx, func(t *tx) error {
		key, err := activeRun(t, u.RunID)
		if err != nil {
			return err
		}
		if u.Status != "" {
			if _, err := t.exec(`UPDATE runs SET status = ? WHERE run_key = ?`, u.Status, key); err != nil {
				return err
			}
		}
		if u.EndTime != nil {
			if _, err := t.exec(`UPDATE runs SET end_time = ? WHERE run_key = ?`, *u.EndTime, key); err != nil {
				return err
			}
		}
		if u.RunName != "" {
			return upsertTags(t, key, []Tag{{TagRunName, u.RunName}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r, err := s.GetRun(ctx, u.RunID)
	if err != nil {
		return nil, err
	}
	return &r.Info, nil
}

// DeleteRun implements Tracking.
func (s *SQLStore) DeleteRun(ctx context.Context, id string) error {
	return s.setRunStage(ctx, id, LifecycleDeleted, nowMillis())
}

// RestoreRun implements Tracking.
func (s *SQLStore) RestoreRun(ctx context.Context, id string) error {
	return s.setRunStage(ctx, id, LifecycleActive, nil)
}

func (s *SQLStore) setRunStage(ctx context.Context, id, stage string, deleted any) error {
	return s.write(ctx, func(t *tx) error {
		clear(t.w.runs)
		key, _, err := lookupRun(t, id)
		if err != nil {
			return err
		}
		_, err = t.exec(`UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_key = ?`, stage, deleted, key)
		return err
	})
}

// DeleteTag implements Tracking.
func (s *SQLStore) DeleteTag(ctx context.Context, id, key string) error {
	return s.write(ctx, func(t *tx) error {
		rk, err := activeRun(t, id)
		if err != nil {
			return err
		}
		res, err := t.exec(`DELETE FROM tags WHERE run_key = ? AND key = ?`, rk, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ResourceDoesNotExist, "no tag with name %q in run with id %s", key, id)
		}
		return nil
	})
}

// LogBatch implements Tracking.
func (s *SQLStore) LogBatch(ctx context.Context, b Batch) error {
	if err := checkBatch(b); err != nil {
		return err
	}
	latest, linked := latestPoints(b.Metrics), hasModelMetrics(b.Metrics)
	return s.write(ctx, func(t *tx) error {
		key, err := activeRun(t, b.RunID)
		if err != nil {
			return err
		}
		if err := insertParams(t, key, b.RunID, b.Params); err != nil {
			return err
		}
		if err := upsertTags(t, key, b.Tags); err != nil {
			return err
		}
		if err := insertMetrics(t, key, b.Metrics); err != nil {
			return err
		}
		if linked {
			if err := logModelMetrics(t, key, b.Metrics); err != nil {
				return err
			}
		}
		t.noteLatest(key, latest)
		return nil
	})
}

func insertParams(t *tx, key int64, runID string, params []Param) error {
	for _, p := range params {
		res, err := t.exec(`INSERT INTO params (run_key, key, value) VALUES (?, ?, ?) ON CONFLICT (run_key, key) DO NOTHING`, key, p.Key, p.Value)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			continue
		}
		var old string
		if err := t.queryRow(`SELECT value FROM params WHERE run_key = ? AND key = ?`, key, p.Key).Scan(&old); err != nil {
			return err
		}
		if old != p.Value {
			return Errorf(InvalidParameterValue, "changing param values is not allowed: param %q of run %s was already logged with value %q, not %q",
				p.Key, runID, old, p.Value)
		}
	}
	return nil
}

// metricChunk is how many rows one multi-row INSERT carries.
const metricChunk = 100

// rowsSQL returns a VALUES list of n rows of cols placeholders.
func rowsSQL(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + "),"
	return strings.TrimSuffix(strings.Repeat(row, n), ",")
}

// insertMetricsSQL returns the statement inserting n history rows: into
// metric_staging where history is staged (duplicates are dropped when
// the points move on), else into metrics, ignoring exact duplicates.
func insertMetricsSQL(staged bool, n int) string {
	if staged {
		return `INSERT INTO metric_staging (run_key, seq, key, step, timestamp, value, is_nan) VALUES ` + rowsSQL(n, 7)
	}
	return `INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) VALUES ` + rowsSQL(n, 6) + ` ON CONFLICT DO NOTHING`
}

// The statements of full chunks, built once: the statement text is the
// key of the prepared-statement cache, and building it per chunk would
// allocate it again and again.
var (
	insertMetricsChunk = insertMetricsSQL(false, metricChunk)
	stageMetricsChunk  = insertMetricsSQL(true, metricChunk)
)

// insertMetrics logs the history points ms of run key (so that a retried
// request does not log a point twice, exact duplicates are dropped).
func insertMetrics(t *tx, key int64, ms []Metric) error {
	staged := t.s.staged != nil
	if staged {
		t.stage(key, len(ms))
	}
	run := any(key) // boxed once for every row
	args := make([]any, 0, 7*min(len(ms), metricChunk))
	for len(ms) > 0 {
		n := min(len(ms), metricChunk)
		args = args[:0]
		for _, m := range ms[:n] {
			v, isNaN := storedValue(m.Value)
			if staged {
				args = append(args, run, t.s.staged.nextSeq(), m.Key, m.Step, m.Timestamp, v, isNaN)
			} else {
				args = append(args, run, m.Key, m.Step, m.Timestamp, v, isNaN)
			}
		}
		q := insertMetricsChunk
		if staged {
			q = stageMetricsChunk
		}
		if n != metricChunk {
			q = insertMetricsSQL(staged, n)
		}
		if _, err := t.exec(q, args...); err != nil {
			return fmt.Errorf("insert metrics: %w", err)
		}
		ms = ms[n:]
	}
	return nil
}

// storedValue maps NaN to 0 with a flag, since SQL has no portable NaN.
func storedValue(f Float) (float64, bool) {
	if math.IsNaN(float64(f)) {
		return 0, true
	}
	return float64(f), false
}

// LogInputs implements Tracking.
func (s *SQLStore) LogInputs(ctx context.Context, id string, datasets []DatasetInput, models []ModelInput) error {
	for _, in := range datasets {
		if in.Dataset.Name == "" || in.Dataset.Digest == "" {
			return Errorf(InvalidParameterValue, "datasets: dataset name and digest must not be empty")
		}
	}
	for _, m := range models {
		if m.ModelID == "" {
			return Errorf(InvalidParameterValue, "models: model_id must not be empty")
		}
	}
	return s.write(ctx, func(t *tx) error {
		key, err := activeRun(t, id)
		if err != nil {
			return err
		}
		for _, m := range models {
			if _, err := t.exec(`INSERT INTO run_model_inputs (run_key, model_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, key, m.ModelID); err != nil {
				return err
			}
		}
		if len(datasets) == 0 {
			return nil
		}
		var exp int64
		if err := t.queryRow(`SELECT experiment_id FROM runs WHERE run_key = ?`, key).Scan(&exp); err != nil {
			return err
		}
		for _, in := range datasets {
			if err := logDatasetInput(t, key, exp, in); err != nil {
				return err
			}
		}
		return nil
	})
}

// logDatasetInput records one data set input of the run with key run in
// experiment exp.
func logDatasetInput(t *tx, run, exp int64, in DatasetInput) error {
	d := in.Dataset
	var dk int64
	err := t.queryRow(`INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id, name, digest) DO UPDATE SET source = excluded.source
		RETURNING dataset_key`, exp, d.Name, d.Digest, d.SourceType, d.Source, d.Schema, d.Profile).Scan(&dk)
	if err != nil {
		return err
	}
	if _, err := t.exec(`INSERT INTO inputs (run_key, dataset_key) VALUES (?, ?) ON CONFLICT DO NOTHING`, run, dk); err != nil {
		return err
	}
	for _, tag := range in.Tags {
		if _, err := t.exec(`INSERT INTO input_tags (run_key, dataset_key, key, value) VALUES (?, ?, ?, ?)
			ON CONFLICT (run_key, dataset_key, key) DO UPDATE SET value = excluded.value`, run, dk, tag.Key, tag.Value); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLStore) loadInputs(ctx context.Context, idx map[int64]*Run, in string, args []any) error {
	type ref struct{ run, ds int64 }
	pos := map[ref]int{}
	err := s.each(ctx, `SELECT i.run_key, d.dataset_key, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
		FROM inputs i JOIN datasets d ON d.dataset_key = i.dataset_key WHERE i.run_key IN `+in+` ORDER BY d.dataset_key`, args,
		func(rows *sql.Rows) error {
			var r ref
			var d Dataset
			if err := rows.Scan(&r.run, &r.ds, &d.Name, &d.Digest, &d.SourceType, &d.Source, &d.Schema, &d.Profile); err != nil {
				return err
			}
			run := idx[r.run]
			pos[r] = len(run.Inputs)
			run.Inputs = append(run.Inputs, DatasetInput{Dataset: d, Tags: []Tag{}})
			return nil
		})
	if err != nil || len(pos) == 0 {
		return err
	}
	return s.each(ctx, `SELECT run_key, dataset_key, key, value FROM input_tags WHERE run_key IN `+in+` ORDER BY key`, args,
		func(rows *sql.Rows) error {
			var r ref
			var t Tag
			if err := rows.Scan(&r.run, &r.ds, &t.Key, &t.Value); err != nil {
				return err
			}
			if i, ok := pos[r]; ok {
				in := &idx[r.run].Inputs[i]
				in.Tags = append(in.Tags, t)
			}
			return nil
		})
}

func sortTags(tags []Tag) {
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
}
