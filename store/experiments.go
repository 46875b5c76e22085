package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
)

const experimentCols = `experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time`

// parseExperimentID checks that id is an experiment id (a decimal number).
func parseExperimentID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, Errorf(InvalidParameterValue, "invalid experiment id %q: want a non-negative integer", id)
	}
	return n, nil
}

func experimentNotFound(id string) error {
	return Errorf(ResourceDoesNotExist, "no experiment with id %s", id)
}

func checkExperimentTag(t Tag) error { return checkTag(t, MaxExperimentTagValue) }

// CreateExperiment implements Tracking.
func (s *SQLStore) CreateExperiment(ctx context.Context, name, artifactLocation string, tags []Tag) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", Errorf(InvalidParameterValue, "experiment name must not be empty")
	}
	if len(name) > MaxExperimentName {
		return "", Errorf(InvalidParameterValue, "experiment name is %d characters long, over the limit of %d", len(name), MaxExperimentName)
	}
	for _, t := range tags {
		if err := checkExperimentTag(t); err != nil {
			return "", err
		}
	}
	var id int64
	err := s.write(ctx, func(t *tx) error {
		var existing string
		err := t.queryRow(`SELECT lifecycle_stage FROM experiments WHERE name = ?`, name).Scan(&existing)
		if err == nil {
			if existing == LifecycleDeleted {
				return Errorf(ResourceAlreadyExists, "experiment %q already exists in deleted state; restore it or delete it permanently first", name)
			}
			return Errorf(ResourceAlreadyExists, "experiment %q already exists", name)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := nowMillis()
		if err := t.queryRow(`INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time)
			VALUES (?, ?, ?, ?, ?) RETURNING experiment_id`, name, artifactLocation, LifecycleActive, now, now).Scan(&id); err != nil {
			return err
		}
		for _, tag := range tags {
			if _, err := t.exec(`INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)
				ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`, id, tag.Key, tag.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

// scanExperiment reads a row of experimentCols.
func (s *SQLStore) scanExperiment(row interface{ Scan(...any) error }) (*Experiment, error) {
	var e Experiment
	var id int64
	if err := row.Scan(&id, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime); err != nil {
		return nil, err
	}
	e.ID = strconv.FormatInt(id, 10)
	e.ArtifactLocation = s.experimentLocation(e.ID, e.ArtifactLocation)
	return &e, nil
}

// experimentLocation returns the artifact location of experiment id whose
// stored location is stored: that, or the default under the artifact root.
func (s *SQLStore) experimentLocation(id, stored string) string {
	if stored == "" {
		return s.artifactRoot + "/" + id
	}
	return strings.TrimRight(stored, "/")
}

// GetExperiment implements Tracking.
func (s *SQLStore) GetExperiment(ctx context.Context, id string) (*Experiment, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return nil, err
	}
	return s.oneExperiment(ctx, `experiment_id = ?`, n, func() error { return experimentNotFound(id) })
}

// GetExperimentByName implements Tracking.
func (s *SQLStore) GetExperimentByName(ctx context.Context, name string) (*Experiment, error) {
	return s.oneExperiment(ctx, `name = ?`, name, func() error {
		return Errorf(ResourceDoesNotExist, "no experiment named %q", name)
	})
}

func (s *SQLStore) oneExperiment(ctx context.Context, where string, arg any, notFound func() error) (*Experiment, error) {
	e, err := s.scanExperiment(s.queryRow(ctx, `SELECT `+experimentCols+` FROM experiments WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if err := s.loadExperimentTags(ctx, []*Experiment{e}); err != nil {
		return nil, err
	}
	return e, nil
}

func (s *SQLStore) loadExperimentTags(ctx context.Context, exps []*Experiment) error {
	if len(exps) == 0 {
		return nil
	}
	byID := make(map[string]*Experiment, len(exps))
	args := make([]any, len(exps))
	for i, e := range exps {
		byID[e.ID] = e
		args[i] = e.ID
	}
	rows, err := s.query(ctx, `SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN (`+
		placeholders(len(args))+`) ORDER BY key`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var t Tag
		if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
			return err
		}
		e := byID[strconv.FormatInt(id, 10)]
		e.Tags = append(e.Tags, t)
	}
	return rows.Err()
}

// experimentColumns maps experiment attributes usable in filters and
// order_by to columns; the bool says whether the column is numeric.
var experimentColumns = map[string]struct {
	col     string
	numeric bool
}{
	"name":             {"e.name", false},
	"experiment_id":    {"e.experiment_id", true},
	"creation_time":    {"e.creation_time", true},
	"last_update_time": {"e.last_update_time", true},
}

// SearchExperiments implements Tracking. Filters accept name, tags.<key>,
// creation_time and last_update_time; the default order is newest first.
func (s *SQLStore) SearchExperiments(ctx context.Context, q Search) ([]Experiment, string, error) {
	limit, err := checkMaxResults(q.MaxResults, 1000, 50000)
	if err != nil {
		return nil, "", err
	}
	offset, err := decodePageToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	clauses, err := parseFilter(q.Filter)
	if err != nil {
		return nil, "", err
	}
	var b condBuilder
	b.add(lifecycleCond("e.lifecycle_stage", q.ViewType))
	for _, c := range clauses {
		if err := experimentCond(&b, c); err != nil {
			return nil, "", err
		}
	}
	order, err := experimentOrder(q.OrderBy)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.query(ctx, `SELECT `+prefixCols("e.", experimentCols)+` FROM experiments e WHERE `+
		strings.Join(b.conds, " AND ")+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(b.args, limit+1, offset)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var ptrs []*Experiment
	for rows.Next() {
		e, err := s.scanExperiment(rows)
		if err != nil {
			return nil, "", err
		}
		ptrs = append(ptrs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	ptrs, token, _ := trimPage(ptrs, pageInfo{offset, limit})
	if err := s.loadExperimentTags(ctx, ptrs); err != nil {
		return nil, "", err
	}
	out := make([]Experiment, len(ptrs))
	for i, e := range ptrs {
		out[i] = *e
	}
	return out, token, nil
}

func experimentCond(b *condBuilder, c clause) error {
	switch c.entity {
	case "tag":
		var sub condBuilder
		if err := sub.stringCond("t.value", c); err != nil {
			return err
		}
		b.add(`EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.experiment_id AND t.key = ? AND `+sub.conds[0]+`)`,
			append([]any{c.key}, sub.args...)...)
		return nil
	case "attribute":
		col, ok := experimentColumns[c.key]
		if !ok {
			return Errorf(InvalidParameterValue, "invalid experiment filter attribute %q: want name, creation_time, last_update_time or tags.<key>", c.key)
		}
		if col.numeric {
			return b.numberCond(col.col, c, true)
		}
		return b.stringCond(col.col, c)
	}
	return Errorf(InvalidParameterValue, "invalid experiment filter: %s.%s is not an experiment field", c.entity, c.key)
}

func experimentOrder(terms []string) (string, error) {
	parsed, err := parseOrderBy(terms)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, o := range parsed {
		col, ok := experimentColumns[o.key]
		if o.entity != "attribute" || !ok {
			return "", Errorf(InvalidParameterValue, "invalid order_by key %q for experiments: want name, experiment_id, creation_time or last_update_time", o.key)
		}
		parts = append(parts, col.col+direction(o.desc))
	}
	parts = append(parts, "e.creation_time DESC", "e.experiment_id ASC")
	return strings.Join(parts, ", "), nil
}

func direction(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

func lifecycleCond(col string, v ViewType) string {
	switch v {
	case DeletedOnly:
		return col + " = '" + LifecycleDeleted + "'"
	case AllViews:
		return "1 = 1"
	}
	return col + " = '" + LifecycleActive + "'"
}

// checkMaxResults applies a default and an upper bound to max_results.
func checkMaxResults(n, def, max int) (int, error) {
	if n == 0 {
		return def, nil
	}
	if n < 0 || n > max {
		return 0, Errorf(InvalidParameterValue, "invalid max_results %d: want 1 to %d", n, max)
	}
	return n, nil
}

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}

// updateExperiment runs fn on an existing experiment inside a write and
// bumps its last_update_time.
func (s *SQLStore) updateExperiment(ctx context.Context, id string, fn func(t *tx, n int64, stage string) error) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		var stage string
		if err := t.queryRow(`SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?`, n).Scan(&stage); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return experimentNotFound(id)
			}
			return err
		}
		if err := fn(t, n, stage); err != nil {
			return err
		}
		_, err := t.exec(`UPDATE experiments SET last_update_time = ? WHERE experiment_id = ?`, nowMillis(), n)
		return err
	})
}

// RenameExperiment implements Tracking.
func (s *SQLStore) RenameExperiment(ctx context.Context, id, newName string) error {
	if strings.TrimSpace(newName) == "" {
		return Errorf(InvalidParameterValue, "new_name must not be empty")
	}
	return s.updateExperiment(ctx, id, func(t *tx, n int64, stage string) error {
		if stage != LifecycleActive {
			return Errorf(InvalidParameterValue, "cannot rename experiment %s: it is deleted", id)
		}
		var other int64
		err := t.queryRow(`SELECT experiment_id FROM experiments WHERE name = ?`, newName).Scan(&other)
		if err == nil && other != n {
			return Errorf(ResourceAlreadyExists, "experiment %q already exists", newName)
		}
		_, err = t.exec(`UPDATE experiments SET name = ? WHERE experiment_id = ?`, newName, n)
		return err
	})
}

// DeleteExperiment implements Tracking. The Default experiment cannot be
// deleted.
func (s *SQLStore) DeleteExperiment(ctx context.Context, id string) error {
	if id == "0" {
		return Errorf(InvalidParameterValue, "cannot delete the Default experiment '0'")
	}
	return s.setExperimentStage(ctx, id, LifecycleDeleted)
}

// RestoreExperiment implements Tracking.
func (s *SQLStore) RestoreExperiment(ctx context.Context, id string) error {
	return s.setExperimentStage(ctx, id, LifecycleActive)
}

func (s *SQLStore) setExperimentStage(ctx context.Context, id, stage string) error {
	return s.updateExperiment(ctx, id, func(t *tx, n int64, _ string) error {
		clear(t.w.runs)
		if _, err := t.exec(`UPDATE experiments SET lifecycle_stage = ? WHERE experiment_id = ?`, stage, n); err != nil {
			return err
		}
		var deleted any
		if stage == LifecycleDeleted {
			deleted = nowMillis()
		}
		_, err := t.exec(`UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?`, stage, deleted, n)
		return err
	})
}

// SetExperimentTag implements Tracking.
func (s *SQLStore) SetExperimentTag(ctx context.Context, id string, tag Tag) error {
	if err := checkExperimentTag(tag); err != nil {
		return err
	}
	return s.updateExperiment(ctx, id, func(t *tx, n int64, stage string) error {
		if stage != LifecycleActive {
			return Errorf(InvalidParameterValue, "cannot set a tag on experiment %s: it is deleted", id)
		}
		_, err := t.exec(`INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`, n, tag.Key, tag.Value)
		return err
	})
}

// DeleteExperimentTag implements Tracking.
func (s *SQLStore) DeleteExperimentTag(ctx context.Context, id, key string) error {
	return s.updateExperiment(ctx, id, func(t *tx, n int64, stage string) error {
		res, err := t.exec(`DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?`, n, key)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return Errorf(ResourceDoesNotExist, "experiment %s has no tag %q", id, key)
		}
		return nil
	})
}
