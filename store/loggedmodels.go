package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strconv"
	"strings"
)

// Logged model statuses: MLflow's LoggedModelStatus names.
const (
	LoggedModelPending      = "LOGGED_MODEL_PENDING"
	LoggedModelReady        = "LOGGED_MODEL_READY"
	LoggedModelUploadFailed = "LOGGED_MODEL_UPLOAD_FAILED"
)

// LoggedModel is an MLflow 3 logged model: a model a run (or no run)
// logged, with its own id, artifact location, tags, immutable params and
// the metric points linked to it.
type LoggedModel struct {
	ModelID          string
	ExperimentID     string
	Name             string
	ModelType        string
	SourceRunID      string
	Status           string
	StatusMessage    string
	ArtifactLocation string
	CreationTime     int64
	LastUpdatedTime  int64
	Tags             []Tag
	Params           []Param
	// Metrics holds every point linked to the model, ordered by key,
	// step and timestamp.
	Metrics []RunMetric
	// Registrations are the model versions registered from the model.
	Registrations []Registration
}

// Registration names a model version registered from a logged model.
type Registration struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// LoggedModelCreate holds the fields of a new logged model. An empty Name
// gets a generated one.
type LoggedModelCreate struct {
	ExperimentID string
	Name         string
	ModelType    string
	SourceRunID  string
	Params       []Param
	Tags         []Tag
}

// LoggedModelSearch is a logged-models search over a set of experiments.
// Filter uses MLflow's syntax over the attributes name, model_id,
// model_type, status, source_run_id, creation_timestamp and
// last_updated_timestamp and over metrics.<key>, params.<key> and
// tags.<key>; a metric compares by its latest point (greatest step, then
// timestamp), counting only points of Datasets when Datasets is not empty.
type LoggedModelSearch struct {
	ExperimentIDs []string
	Filter        string
	Datasets      []DatasetRef
	OrderBy       []LoggedModelOrder
	MaxResults    int
	PageToken     string
}

// DatasetRef names a data set by name and, optionally, digest.
type DatasetRef struct {
	Name   string
	Digest string
}

// LoggedModelOrder is one order_by term of a logged-models search: an
// attribute or metrics.<key>, optionally by the metric's points on one
// data set.
type LoggedModelOrder struct {
	Field         string
	Ascending     bool
	DatasetName   string
	DatasetDigest string
}

// LoggedModels stores MLflow 3 logged models.
type LoggedModels interface {
	// CreateLoggedModel creates a model in the PENDING state, with its
	// artifact location under its experiment's.
	CreateLoggedModel(ctx context.Context, c LoggedModelCreate) (*LoggedModel, error)
	// GetLoggedModel returns an active (not deleted) logged model.
	GetLoggedModel(ctx context.Context, id string) (*LoggedModel, error)
	// FinalizeLoggedModel sets the status to LoggedModelReady or
	// LoggedModelUploadFailed.
	FinalizeLoggedModel(ctx context.Context, id, status string) (*LoggedModel, error)
	// DeleteLoggedModel marks a model deleted; it is then not found.
	DeleteLoggedModel(ctx context.Context, id string) error
	// SearchLoggedModels returns one page of active models and the token
	// of the next page ("" on the last page).
	SearchLoggedModels(ctx context.Context, s LoggedModelSearch) ([]LoggedModel, string, error)
	SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error
	DeleteLoggedModelTag(ctx context.Context, id, key string) error
	// LogLoggedModelParams adds params; like run params they are
	// immutable once set.
	LogLoggedModelParams(ctx context.Context, id string, params []Param) error
	// LogOutputs records logged models an active run produced.
	LogOutputs(ctx context.Context, runID string, outputs []ModelOutput) error
}

const loggedModelCols = `model_key, model_id, experiment_id, name, model_type, source_run_id, status, status_message,
	artifact_location, creation_time, last_updated_time`

func loggedModelNotFound(id string) error {
	return Errorf(ResourceDoesNotExist, "no logged model with id %q", id)
}

// newModelID returns an id of MLflow's form: "m-" and 32 hex digits.
func newModelID() string { return "m-" + newRunID() }

// CreateLoggedModel implements LoggedModels.
func (s *SQLStore) CreateLoggedModel(ctx context.Context, c LoggedModelCreate) (*LoggedModel, error) {
	exp, err := parseExperimentID(c.ExperimentID)
	if err != nil {
		return nil, err
	}
	if err := checkParams(c.Params); err != nil {
		return nil, err
	}
	for _, t := range c.Tags {
		if err := checkTag(t, MaxTagValueLength); err != nil {
			return nil, err
		}
	}
	id, name := newModelID(), c.Name
	if name == "" {
		name = "model-" + id[2:10]
	}
	err = s.write(ctx, func(t *tx) error {
		location, err := activeExperiment(t, exp, "a logged model")
		if err != nil {
			return err
		}
		if c.SourceRunID != "" {
			if _, _, err := lookupRun(t, c.SourceRunID); err != nil {
				return Errorf(ResourceDoesNotExist, "source_run_id: no run with id %q", c.SourceRunID)
			}
		}
		artifacts := s.experimentLocation(strconv.FormatInt(exp, 10), location) + "/models/" + id + "/artifacts"
		now := nowMillis()
		var key int64
		if err := t.queryRow(`INSERT INTO logged_models (model_id, experiment_id, name, model_type, source_run_id, status, status_message,
			artifact_location, lifecycle_stage, creation_time, last_updated_time) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?) RETURNING model_key`,
			id, exp, name, c.ModelType, c.SourceRunID, LoggedModelPending, artifacts, LifecycleActive, now, now).Scan(&key); err != nil {
			return err
		}
		if err := insertModelParams(t, key, id, c.Params); err != nil {
			return err
		}
		return upsertModelTags(t, key, c.Tags)
	})
	if err != nil {
		return nil, err
	}
	return s.GetLoggedModel(ctx, id)
}

// checkParams validates param keys and values and rejects one key logged
// twice in one request with different values.
func checkParams(params []Param) error {
	seen := make(map[string]string, len(params))
	for _, p := range params {
		if err := checkKey("param", p.Key); err != nil {
			return err
		}
		if err := checkValue("param", p.Key, p.Value, MaxParamValueLength); err != nil {
			return err
		}
		if v, ok := seen[p.Key]; ok && v != p.Value {
			return Errorf(InvalidParameterValue, "param %q is logged twice in one request with different values %q and %q", p.Key, v, p.Value)
		}
		seen[p.Key] = p.Value
	}
	return nil
}

// insertModelParams adds params to a logged model; a param already set
// to another value fails.
func insertModelParams(t *tx, key int64, id string, params []Param) error {
	for _, p := range params {
		var old string
		err := t.queryRow(`INSERT INTO logged_model_params (model_key, key, value) VALUES (?, ?, ?)
			ON CONFLICT (model_key, key) DO UPDATE SET value = logged_model_params.value RETURNING value`, key, p.Key, p.Value).Scan(&old)
		if err != nil {
			return err
		}
		if old != p.Value {
			return Errorf(InvalidParameterValue, "changing param values is not allowed: param %q of logged model %s was already logged with value %q, not %q",
				p.Key, id, old, p.Value)
		}
	}
	return nil
}

func upsertModelTags(t *tx, key int64, tags []Tag) error {
	for _, tag := range tags {
		if _, err := t.exec(`INSERT INTO logged_model_tags (model_key, key, value) VALUES (?, ?, ?)
			ON CONFLICT (model_key, key) DO UPDATE SET value = excluded.value`, key, tag.Key, tag.Value); err != nil {
			return err
		}
	}
	return nil
}

// activeModel returns the key of an active logged model inside a write.
func activeModel(t *tx, id string) (int64, error) {
	var key int64
	err := t.queryRow(`SELECT model_key FROM logged_models WHERE model_id = ? AND lifecycle_stage = ?`, id, LifecycleActive).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, loggedModelNotFound(id)
	}
	return key, err
}

// updateModel runs fn on an active logged model inside a write and bumps
// its last_updated_time.
func (s *SQLStore) updateModel(ctx context.Context, id string, fn func(t *tx, key int64) error) error {
	return s.write(ctx, func(t *tx) error {
		key, err := activeModel(t, id)
		if err != nil {
			return err
		}
		if err := fn(t, key); err != nil {
			return err
		}
		_, err = t.exec(`UPDATE logged_models SET last_updated_time = ? WHERE model_key = ?`, nowMillis(), key)
		return err
	})
}

// GetLoggedModel implements LoggedModels.
func (s *SQLStore) GetLoggedModel(ctx context.Context, id string) (*LoggedModel, error) {
	ms, err := s.scanLoggedModels(ctx, `SELECT `+loggedModelCols+` FROM logged_models WHERE model_id = ? AND lifecycle_stage = ?`, id, LifecycleActive)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, loggedModelNotFound(id)
	}
	return &ms[0], nil
}

// FinalizeLoggedModel implements LoggedModels.
func (s *SQLStore) FinalizeLoggedModel(ctx context.Context, id, status string) (*LoggedModel, error) {
	if status != LoggedModelReady && status != LoggedModelUploadFailed {
		return nil, Errorf(InvalidParameterValue, "invalid status %q: want %s or %s", status, LoggedModelReady, LoggedModelUploadFailed)
	}
	err := s.updateModel(ctx, id, func(t *tx, key int64) error {
		_, err := t.exec(`UPDATE logged_models SET status = ? WHERE model_key = ?`, status, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.GetLoggedModel(ctx, id)
}

// DeleteLoggedModel implements LoggedModels.
func (s *SQLStore) DeleteLoggedModel(ctx context.Context, id string) error {
	return s.updateModel(ctx, id, func(t *tx, key int64) error {
		_, err := t.exec(`UPDATE logged_models SET lifecycle_stage = ? WHERE model_key = ?`, LifecycleDeleted, key)
		return err
	})
}

// SetLoggedModelTags implements LoggedModels.
func (s *SQLStore) SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error {
	for _, t := range tags {
		if err := checkTag(t, MaxTagValueLength); err != nil {
			return err
		}
	}
	return s.updateModel(ctx, id, func(t *tx, key int64) error { return upsertModelTags(t, key, tags) })
}

// DeleteLoggedModelTag implements LoggedModels.
func (s *SQLStore) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	return s.updateModel(ctx, id, func(t *tx, mk int64) error {
		res, err := t.exec(`DELETE FROM logged_model_tags WHERE model_key = ? AND key = ?`, mk, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ResourceDoesNotExist, "no tag with key %q on logged model %s", key, id)
		}
		return nil
	})
}

// LogLoggedModelParams implements LoggedModels.
func (s *SQLStore) LogLoggedModelParams(ctx context.Context, id string, params []Param) error {
	if err := checkParams(params); err != nil {
		return err
	}
	return s.updateModel(ctx, id, func(t *tx, key int64) error { return insertModelParams(t, key, id, params) })
}

// LogOutputs implements LoggedModels. Logging the same model again
// updates its step.
func (s *SQLStore) LogOutputs(ctx context.Context, runID string, outputs []ModelOutput) error {
	for _, o := range outputs {
		if o.ModelID == "" {
			return Errorf(InvalidParameterValue, "models: model_id must not be empty")
		}
	}
	return s.write(ctx, func(t *tx) error {
		key, err := activeRun(t, runID)
		if err != nil {
			return err
		}
		for _, o := range outputs {
			if _, err := activeModel(t, o.ModelID); err != nil {
				return err
			}
			if _, err := t.exec(`INSERT INTO run_model_outputs (run_key, model_id, step) VALUES (?, ?, ?)
				ON CONFLICT (run_key, model_id) DO UPDATE SET step = excluded.step`, key, o.ModelID, o.Step); err != nil {
				return err
			}
		}
		return nil
	})
}

// logModelMetrics links the points of ms that name a model to it, as
// logged by the run with key run. Points without a model are skipped.
func logModelMetrics(t *tx, run int64, ms []Metric) error {
	keys := map[string]int64{}
	for _, m := range ms {
		if m.ModelID == "" {
			continue
		}
		mk, ok := keys[m.ModelID]
		if !ok {
			var err error
			if mk, err = activeModel(t, m.ModelID); err != nil {
				return err
			}
			keys[m.ModelID] = mk
		}
		v, isNaN := storedValue(m.Value)
		if _, err := t.exec(`INSERT INTO logged_model_metrics (model_key, key, step, timestamp, value, is_nan, run_key, dataset_name, dataset_digest)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			mk, m.Key, m.Step, m.Timestamp, v, isNaN, run, m.DatasetName, m.DatasetDigest); err != nil {
			return err
		}
	}
	return nil
}

// hasModelMetrics reports whether any point of ms names a logged model.
func hasModelMetrics(ms []Metric) bool {
	for _, m := range ms {
		if m.ModelID != "" {
			return true
		}
	}
	return false
}

// scanLoggedModels runs a query selecting loggedModelCols and loads the
// models' tags, params, metrics and registrations.
func (s *SQLStore) scanLoggedModels(ctx context.Context, q string, args ...any) ([]LoggedModel, error) {
	var out []LoggedModel
	var keys []any
	err := s.each(ctx, q, args, func(rows *sql.Rows) error {
		var m LoggedModel
		var key, exp int64
		if err := rows.Scan(&key, &m.ModelID, &exp, &m.Name, &m.ModelType, &m.SourceRunID, &m.Status, &m.StatusMessage,
			&m.ArtifactLocation, &m.CreationTime, &m.LastUpdatedTime); err != nil {
			return err
		}
		m.ExperimentID = strconv.FormatInt(exp, 10)
		out = append(out, m)
		keys = append(keys, key)
		return nil
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	return out, s.loadModelData(ctx, out, keys)
}

// loadModelData fills tags, params, metrics and registrations of ms,
// whose internal keys are keys.
func (s *SQLStore) loadModelData(ctx context.Context, ms []LoggedModel, keys []any) error {
	idx := make(map[int64]*LoggedModel, len(ms))
	byID := make(map[string]*LoggedModel, len(ms))
	ids := make([]any, len(ms))
	for i, k := range keys {
		idx[k.(int64)] = &ms[i]
		byID[ms[i].ModelID] = &ms[i]
		ids[i] = ms[i].ModelID
	}
	in := `(` + placeholders(len(keys)) + `)`
	for _, table := range []string{"logged_model_tags", "logged_model_params"} {
		err := s.each(ctx, `SELECT model_key, key, value FROM `+table+` WHERE model_key IN `+in+` ORDER BY key`, keys,
			func(rows *sql.Rows) error {
				var k int64
				var key, value string
				if err := rows.Scan(&k, &key, &value); err != nil {
					return err
				}
				if m := idx[k]; table == "logged_model_tags" {
					m.Tags = append(m.Tags, Tag{key, value})
				} else {
					m.Params = append(m.Params, Param{key, value})
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	err := s.each(ctx, `SELECT lm.model_key, lm.key, lm.step, lm.timestamp, lm.value, lm.is_nan, r.run_uuid, lm.dataset_name, lm.dataset_digest
		FROM logged_model_metrics lm JOIN runs r ON r.run_key = lm.run_key WHERE lm.model_key IN `+in+`
		ORDER BY lm.model_key, lm.key, lm.step, lm.timestamp`, keys,
		func(rows *sql.Rows) error {
			var k int64
			var isNaN bool
			var p RunMetric
			if err := rows.Scan(&k, &p.Key, &p.Step, &p.Timestamp, &p.Value, &isNaN, &p.RunID, &p.DatasetName, &p.DatasetDigest); err != nil {
				return err
			}
			if isNaN {
				p.Value = Float(math.NaN())
			}
			m := idx[k]
			p.ModelID = m.ModelID
			m.Metrics = append(m.Metrics, p)
			return nil
		})
	if err != nil {
		return err
	}
	return s.each(ctx, `SELECT model_id, name, version FROM model_versions WHERE model_id IN (`+placeholders(len(ids))+`)
		ORDER BY name, version`, ids,
		func(rows *sql.Rows) error {
			var id string
			var r Registration
			var v int64
			if err := rows.Scan(&id, &r.Name, &v); err != nil {
				return err
			}
			r.Version = strconv.FormatInt(v, 10)
			m := byID[id]
			m.Registrations = append(m.Registrations, r)
			return nil
		})
}

// loggedModelAttributes maps the attributes a logged-models search may
// filter and order by to columns.
var loggedModelAttributes = map[string]searchCol{
	"name":                   {"lm.name", false},
	"model_id":               {"lm.model_id", false},
	"model_type":             {"lm.model_type", false},
	"status":                 {"lm.status", false},
	"source_run_id":          {"lm.source_run_id", false},
	"creation_timestamp":     {"lm.creation_time", true},
	"creation_time":          {"lm.creation_time", true},
	"last_updated_timestamp": {"lm.last_updated_time", true},
}

// SearchLoggedModels implements LoggedModels. The default order is
// newest first.
func (s *SQLStore) SearchLoggedModels(ctx context.Context, q LoggedModelSearch) ([]LoggedModel, string, error) {
	limit, err := checkMaxResults(q.MaxResults, 50, 50000)
	if err != nil {
		return nil, "", err
	}
	offset, err := decodePageToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	if len(q.ExperimentIDs) == 0 {
		return nil, "", Errorf(InvalidParameterValue, "experiment_ids must name at least one experiment")
	}
	for _, d := range q.Datasets {
		if d.Name == "" {
			return nil, "", Errorf(InvalidParameterValue, "datasets: dataset_name must not be empty")
		}
	}
	clauses, err := parseFilter(q.Filter)
	if err != nil {
		return nil, "", err
	}
	exps := make([]any, len(q.ExperimentIDs))
	for i, id := range q.ExperimentIDs {
		if exps[i], err = parseExperimentID(id); err != nil {
			return nil, "", err
		}
	}
	var b condBuilder
	b.add(`lm.experiment_id IN (`+placeholders(len(exps))+`)`, exps...)
	b.add(`lm.lifecycle_stage = ?`, LifecycleActive)
	for _, c := range clauses {
		if err := loggedModelCond(&b, c, q.Datasets); err != nil {
			return nil, "", err
		}
	}
	order, orderArgs, err := loggedModelOrder(q.OrderBy)
	if err != nil {
		return nil, "", err
	}
	args := append(append(b.args, orderArgs...), limit+1, offset)
	ms, err := s.scanLoggedModels(ctx, `SELECT `+prefixCols("lm.", loggedModelCols)+` FROM logged_models lm WHERE `+
		strings.Join(b.conds, " AND ")+` ORDER BY `+order+` LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, "", err
	}
	return trimPage(ms, pageInfo{offset, limit})
}

// latestModelMetric returns a scalar SQL expression, with its arguments,
// for the value of the latest point of metric key of model lm (NULL for a
// NaN or no point), counting only points of datasets when it is not empty.
func latestModelMetric(key string, datasets []DatasetRef) (string, []any) {
	q := `(SELECT CASE WHEN x.is_nan THEN NULL ELSE x.value END FROM logged_model_metrics x
		WHERE x.model_key = lm.model_key AND x.key = ?`
	args := []any{key}
	var alts []string
	for _, d := range datasets {
		if d.Digest == "" {
			alts = append(alts, `x.dataset_name = ?`)
			args = append(args, d.Name)
			continue
		}
		alts = append(alts, `(x.dataset_name = ? AND x.dataset_digest = ?)`)
		args = append(args, d.Name, d.Digest)
	}
	if len(alts) > 0 {
		q += ` AND (` + strings.Join(alts, " OR ") + `)`
	}
	return q + ` ORDER BY x.step DESC, x.timestamp DESC, x.value DESC LIMIT 1)`, args
}

// loggedModelCond adds the SQL condition of one filter clause.
func loggedModelCond(b *condBuilder, c clause, datasets []DatasetRef) error {
	switch c.entity {
	case "metric":
		if c.quoted || len(c.values) != 1 {
			return Errorf(InvalidParameterValue, "invalid filter: metric %q must be compared with one number", c.key)
		}
		expr, args := latestModelMetric(c.key, datasets)
		var sub condBuilder
		if err := sub.numberCond(expr, c, false); err != nil {
			return err
		}
		b.add(sub.conds[0], append(args, sub.args...)...)
		return nil
	case "param", "tag":
		table := "logged_model_params"
		if c.entity == "tag" {
			table = "logged_model_tags"
		}
		var sub condBuilder
		if err := sub.stringCond("x.value", c); err != nil {
			return err
		}
		b.add(`EXISTS (SELECT 1 FROM `+table+` x WHERE x.model_key = lm.model_key AND x.key = ? AND `+sub.conds[0]+`)`,
			append([]any{c.key}, sub.args...)...)
		return nil
	case "attribute":
		col, ok := loggedModelAttributes[c.key]
		if !ok {
			return Errorf(InvalidParameterValue, "invalid filter attribute %q: want name, model_id, model_type, status, source_run_id, creation_timestamp or last_updated_timestamp", c.key)
		}
		if col.numeric {
			return b.numberCond(col.col, c, true)
		}
		return b.stringCond(col.col, c)
	}
	return Errorf(InvalidParameterValue, "invalid filter: %s.%s is not a logged model field", c.entity, c.key)
}

// loggedModelOrder returns the ORDER BY list and its arguments: the
// requested terms (models lacking a metric sort last), then
// creation_timestamp DESC and model_id.
func loggedModelOrder(terms []LoggedModelOrder) (string, []any, error) {
	var parts []string
	var args []any
	for _, o := range terms {
		dir := direction(!o.Ascending)
		if key, ok := strings.CutPrefix(o.Field, "metrics."); ok {
			var datasets []DatasetRef
			if o.DatasetName != "" {
				datasets = []DatasetRef{{o.DatasetName, o.DatasetDigest}}
			}
			expr, a := latestModelMetric(key, datasets)
			parts = append(parts, `(`+expr+` IS NULL)`, expr+dir)
			args = append(append(args, a...), a...)
			continue
		}
		if o.DatasetName != "" || o.DatasetDigest != "" {
			return "", nil, Errorf(InvalidParameterValue, "order_by %q: dataset_name and dataset_digest apply to metrics only", o.Field)
		}
		col, ok := loggedModelAttributes[strings.TrimPrefix(o.Field, "attributes.")]
		if !ok {
			return "", nil, Errorf(InvalidParameterValue, "invalid order_by field_name %q: want metrics.<key> or an attribute such as name or creation_timestamp", o.Field)
		}
		parts = append(parts, col.col+dir)
	}
	parts = append(parts, "lm.creation_time DESC", "lm.model_id ASC")
	return strings.Join(parts, ", "), args, nil
}
