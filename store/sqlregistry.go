package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
)

// Model version stages, in MLflow's spelling.
var stages = []string{"None", "Staging", "Production", "Archived"}

// canonicalStage returns the MLflow spelling of a stage name given in any
// case.
func canonicalStage(s string) (string, error) {
	for _, st := range stages {
		if strings.EqualFold(s, st) {
			return st, nil
		}
	}
	return "", Errorf(InvalidParameterValue, "invalid model version stage %q: want None, Staging, Production or Archived", s)
}

func modelNotFound(name string) error {
	return Errorf(ResourceDoesNotExist, "registered model with name=%q not found", name)
}

func versionNotFound(name, version string) error {
	return Errorf(ResourceDoesNotExist, "model version (name=%q, version=%s) not found", name, version)
}

func parseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, Errorf(InvalidParameterValue, "invalid model version %q: want a positive integer", v)
	}
	return n, nil
}

func checkModelName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(InvalidParameterValue, "registered model name must not be empty")
	}
	if len(name) > MaxEntityKeyLength {
		return Errorf(InvalidParameterValue, "registered model name is %d characters long, over the limit of %d", len(name), MaxEntityKeyLength)
	}
	return nil
}

// modelExists fails with RESOURCE_DOES_NOT_EXIST inside a write when the
// model is missing, and bumps its last_updated_time otherwise.
func touchModel(t *tx, name string) error {
	res, err := t.exec(`UPDATE registered_models SET last_updated_time = ? WHERE name = ?`, nowMillis(), name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return modelNotFound(name)
	}
	return nil
}

// touchVersion is touchModel for a model version.
func touchVersion(t *tx, name string, version int64) error {
	res, err := t.exec(`UPDATE model_versions SET last_updated_time = ? WHERE name = ? AND version = ?`, nowMillis(), name, version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return versionNotFound(name, strconv.FormatInt(version, 10))
	}
	return nil
}

// CreateRegisteredModel implements Registry.
func (s *SQLStore) CreateRegisteredModel(ctx context.Context, name, description string, tags []Tag) (*RegisteredModel, error) {
	if err := checkModelName(name); err != nil {
		return nil, err
	}
	for _, t := range tags {
		if err := checkTag(t, MaxModelTagValue); err != nil {
			return nil, err
		}
	}
	err := s.write(ctx, func(t *tx) error {
		now := nowMillis()
		res, err := t.exec(`INSERT INTO registered_models (name, creation_time, last_updated_time, description, user_id)
			VALUES (?, ?, ?, ?, '') ON CONFLICT DO NOTHING`, name, now, now, description)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ResourceAlreadyExists, "registered model (name=%q) already exists", name)
		}
		for _, tag := range tags {
			if _, err := t.exec(`INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)
				ON CONFLICT (name, key) DO UPDATE SET value = excluded.value`, name, tag.Key, tag.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetRegisteredModel(ctx, name)
}

// GetRegisteredModel implements Registry.
func (s *SQLStore) GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error) {
	ms, err := s.scanModels(ctx, `SELECT name, creation_time, last_updated_time, description, user_id FROM registered_models m WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, modelNotFound(name)
	}
	return &ms[0], nil
}

func (s *SQLStore) scanModels(ctx context.Context, q string, args ...any) ([]RegisteredModel, error) {
	var out []RegisteredModel
	err := s.each(ctx, q, args, func(rows *sql.Rows) error {
		var m RegisteredModel
		if err := rows.Scan(&m.Name, &m.CreationTimestamp, &m.LastUpdatedTimestamp, &m.Description, &m.UserID); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		m := &out[i]
		if m.Tags, err = s.tagsOf(ctx, `SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key`, m.Name); err != nil {
			return nil, err
		}
		err = s.each(ctx, `SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY alias`, []any{m.Name},
			func(rows *sql.Rows) error {
				var a Alias
				var v int64
				err := rows.Scan(&a.Alias, &v)
				a.Version = strconv.FormatInt(v, 10)
				m.Aliases = append(m.Aliases, a)
				return err
			})
		if err != nil {
			return nil, err
		}
		if m.LatestVersions, err = s.GetLatestVersions(ctx, m.Name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *SQLStore) tagsOf(ctx context.Context, q string, args ...any) ([]Tag, error) {
	var tags []Tag
	err := s.each(ctx, q, args, func(rows *sql.Rows) error {
		var t Tag
		err := rows.Scan(&t.Key, &t.Value)
		tags = append(tags, t)
		return err
	})
	return tags, err
}

// RenameRegisteredModel implements Registry.
func (s *SQLStore) RenameRegisteredModel(ctx context.Context, name, newName string) (*RegisteredModel, error) {
	if err := checkModelName(newName); err != nil {
		return nil, err
	}
	err := s.write(ctx, func(t *tx) error {
		if err := touchModel(t, name); err != nil {
			return err
		}
		var n int
		if err := t.queryRow(`SELECT COUNT(*) FROM registered_models WHERE name = ?`, newName).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return Errorf(ResourceAlreadyExists, "registered model (name=%q) already exists", newName)
		}
		for _, table := range []string{"registered_models", "registered_model_tags", "model_versions", "model_version_tags", "registered_model_aliases"} {
			if _, err := t.exec(`UPDATE `+table+` SET name = ? WHERE name = ?`, newName, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetRegisteredModel(ctx, newName)
}

// UpdateRegisteredModel implements Registry.
func (s *SQLStore) UpdateRegisteredModel(ctx context.Context, name, description string) (*RegisteredModel, error) {
	err := s.write(ctx, func(t *tx) error {
		if err := touchModel(t, name); err != nil {
			return err
		}
		_, err := t.exec(`UPDATE registered_models SET description = ? WHERE name = ?`, description, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.GetRegisteredModel(ctx, name)
}

// DeleteRegisteredModel implements Registry.
func (s *SQLStore) DeleteRegisteredModel(ctx context.Context, name string) error {
	return s.write(ctx, func(t *tx) error {
		if err := touchModel(t, name); err != nil {
			return err
		}
		for _, table := range []string{"registered_model_tags", "model_version_tags", "registered_model_aliases", "model_versions", "registered_models"} {
			if _, err := t.exec(`DELETE FROM `+table+` WHERE name = ?`, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetRegisteredModelTag implements Registry.
func (s *SQLStore) SetRegisteredModelTag(ctx context.Context, name string, tag Tag) error {
	if err := checkTag(tag, MaxModelTagValue); err != nil {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		if err := touchModel(t, name); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)
			ON CONFLICT (name, key) DO UPDATE SET value = excluded.value`, name, tag.Key, tag.Value)
		return err
	})
}

// DeleteRegisteredModelTag implements Registry.
func (s *SQLStore) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	return s.write(ctx, func(t *tx) error {
		if err := touchModel(t, name); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM registered_model_tags WHERE name = ? AND key = ?`, name, key)
		return err
	})
}

// SetRegisteredModelAlias implements Registry.
func (s *SQLStore) SetRegisteredModelAlias(ctx context.Context, name, alias, version string) error {
	v, err := parseVersion(version)
	if err != nil {
		return err
	}
	if alias == "" || strings.EqualFold(alias, "latest") || strings.HasPrefix(alias, "v") && isDigits(alias[1:]) {
		return Errorf(InvalidParameterValue, "invalid alias %q: it must not be empty, 'latest' or of the form v<number>", alias)
	}
	return s.write(ctx, func(t *tx) error {
		if err := touchVersion(t, name, v); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?)
			ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version`, name, alias, v)
		return err
	})
}

func isDigits(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// DeleteRegisteredModelAlias implements Registry.
func (s *SQLStore) DeleteRegisteredModelAlias(ctx context.Context, name, alias string) error {
	return s.write(ctx, func(t *tx) error {
		if err := touchModel(t, name); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias)
		return err
	})
}

// GetModelVersionByAlias implements Registry.
func (s *SQLStore) GetModelVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error) {
	var v int64
	err := s.queryRow(ctx, `SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ResourceDoesNotExist, "registered model %q has no alias %q", name, alias)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return s.GetModelVersion(ctx, name, strconv.FormatInt(v, 10))
}

const versionCols = `mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, mv.user_id, mv.current_stage,
	mv.source, mv.run_id, mv.run_link, mv.status, mv.status_message, mv.model_id`

func (s *SQLStore) scanVersions(ctx context.Context, q string, args ...any) ([]ModelVersion, error) {
	var out []ModelVersion
	err := s.each(ctx, q, args, func(rows *sql.Rows) error {
		var v ModelVersion
		var n int64
		if err := rows.Scan(&v.Name, &n, &v.CreationTimestamp, &v.LastUpdatedTimestamp, &v.Description, &v.UserID,
			&v.CurrentStage, &v.Source, &v.RunID, &v.RunLink, &v.Status, &v.StatusMessage, &v.ModelID); err != nil {
			return err
		}
		v.Version = strconv.FormatInt(n, 10)
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		v := &out[i]
		if v.Tags, err = s.tagsOf(ctx, `SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? ORDER BY key`, v.Name, v.Version); err != nil {
			return nil, err
		}
		err = s.each(ctx, `SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ? ORDER BY alias`, []any{v.Name, v.Version},
			func(rows *sql.Rows) error {
				var a string
				err := rows.Scan(&a)
				v.Aliases = append(v.Aliases, a)
				return err
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GetLatestVersions implements Registry.
func (s *SQLStore) GetLatestVersions(ctx context.Context, name string, want []string) ([]ModelVersion, error) {
	var exists int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM registered_models WHERE name = ?`, name).Scan(&exists); err != nil {
		return nil, unavailable(err)
	}
	if exists == 0 {
		return nil, modelNotFound(name)
	}
	if len(want) == 0 {
		want = stages
	}
	var out []ModelVersion
	for _, st := range want {
		st, err := canonicalStage(st)
		if err != nil {
			return nil, err
		}
		vs, err := s.scanVersions(ctx, `SELECT `+versionCols+` FROM model_versions mv WHERE mv.name = ? AND mv.current_stage = ?
			ORDER BY mv.version DESC LIMIT 1`, name, st)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

// LoggedModelIDOf returns the logged model id of a models:/<model id>
// URI, or "" for any other URI (models:/<name>/<version> included).
func LoggedModelIDOf(uri string) string {
	id, ok := strings.CutPrefix(uri, "models:/")
	if !ok || !strings.HasPrefix(id, "m-") || strings.Contains(id, "/") {
		return ""
	}
	return id
}

// CreateModelVersion implements Registry.
func (s *SQLStore) CreateModelVersion(ctx context.Context, c ModelVersionCreate) (*ModelVersion, error) {
	if c.Source == "" {
		return nil, Errorf(InvalidParameterValue, "model version source must not be empty")
	}
	for _, t := range c.Tags {
		if err := checkTag(t, MaxModelTagValue); err != nil {
			return nil, err
		}
	}
	if c.ModelID == "" {
		c.ModelID = LoggedModelIDOf(c.Source)
	}
	var version int64
	err := s.write(ctx, func(t *tx) error {
		if err := touchModel(t, c.Name); err != nil {
			return err
		}
		if c.ModelID != "" {
			if _, err := activeModel(t, c.ModelID); err != nil {
				return err
			}
		}
		if err := t.queryRow(`SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?`, c.Name).Scan(&version); err != nil {
			return err
		}
		now := nowMillis()
		if _, err := t.exec(`INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id,
			current_stage, source, run_id, run_link, status, status_message, model_id) VALUES (?, ?, ?, ?, ?, '', 'None', ?, ?, ?, 'READY', '', ?)`,
			c.Name, version, now, now, c.Description, c.Source, c.RunID, c.RunLink, c.ModelID); err != nil {
			return err
		}
		for _, tag := range c.Tags {
			if _, err := t.exec(`INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)
				ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value`, c.Name, version, tag.Key, tag.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetModelVersion(ctx, c.Name, strconv.FormatInt(version, 10))
}

// GetModelVersion implements Registry.
func (s *SQLStore) GetModelVersion(ctx context.Context, name, version string) (*ModelVersion, error) {
	v, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	vs, err := s.scanVersions(ctx, `SELECT `+versionCols+` FROM model_versions mv WHERE mv.name = ? AND mv.version = ?`, name, v)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, versionNotFound(name, version)
	}
	return &vs[0], nil
}

// updateVersion runs fn on an existing version inside a write, then
// returns the version as stored.
func (s *SQLStore) updateVersion(ctx context.Context, name, version string, fn func(t *tx, v int64) error) (*ModelVersion, error) {
	v, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(t *tx) error {
		if err := touchVersion(t, name, v); err != nil {
			return err
		}
		return fn(t, v)
	})
	if err != nil {
		return nil, err
	}
	return s.GetModelVersion(ctx, name, version)
}

// UpdateModelVersion implements Registry.
func (s *SQLStore) UpdateModelVersion(ctx context.Context, name, version, description string) (*ModelVersion, error) {
	return s.updateVersion(ctx, name, version, func(t *tx, v int64) error {
		_, err := t.exec(`UPDATE model_versions SET description = ? WHERE name = ? AND version = ?`, description, name, v)
		return err
	})
}

// DeleteModelVersion implements Registry.
func (s *SQLStore) DeleteModelVersion(ctx context.Context, name, version string) error {
	v, err := parseVersion(version)
	if err != nil {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		if err := touchVersion(t, name, v); err != nil {
			return err
		}
		for _, table := range []string{"model_version_tags", "registered_model_aliases", "model_versions"} {
			if _, err := t.exec(`DELETE FROM `+table+` WHERE name = ? AND version = ?`, name, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetModelVersionTag implements Registry.
func (s *SQLStore) SetModelVersionTag(ctx context.Context, name, version string, tag Tag) error {
	if err := checkTag(tag, MaxModelTagValue); err != nil {
		return err
	}
	_, err := s.updateVersion(ctx, name, version, func(t *tx, v int64) error {
		_, err := t.exec(`INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)
			ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value`, name, v, tag.Key, tag.Value)
		return err
	})
	return err
}

// DeleteModelVersionTag implements Registry.
func (s *SQLStore) DeleteModelVersionTag(ctx context.Context, name, version, key string) error {
	_, err := s.updateVersion(ctx, name, version, func(t *tx, v int64) error {
		_, err := t.exec(`DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?`, name, v, key)
		return err
	})
	return err
}

// TransitionModelVersionStage implements Registry.
func (s *SQLStore) TransitionModelVersionStage(ctx context.Context, name, version, stage string, archiveExisting bool) (*ModelVersion, error) {
	st, err := canonicalStage(stage)
	if err != nil {
		return nil, err
	}
	return s.updateVersion(ctx, name, version, func(t *tx, v int64) error {
		if archiveExisting && (st == "Staging" || st == "Production") {
			if _, err := t.exec(`UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ?
				WHERE name = ? AND current_stage = ? AND version != ?`, nowMillis(), name, st, v); err != nil {
				return err
			}
		}
		_, err := t.exec(`UPDATE model_versions SET current_stage = ? WHERE name = ? AND version = ?`, st, name, v)
		return err
	})
}

// SearchRegisteredModels implements Registry. Filters accept name and
// tags.<key>; order_by accepts name and last_updated_timestamp.
func (s *SQLStore) SearchRegisteredModels(ctx context.Context, q Search) ([]RegisteredModel, string, error) {
	cols := map[string]searchCol{
		"name":                   {"m.name", false},
		"timestamp":              {"m.last_updated_time", true},
		"last_updated_timestamp": {"m.last_updated_time", true},
		"creation_timestamp":     {"m.creation_time", true},
	}
	sel, args, token, err := registrySearch(q, 100, 1000, cols, "registered_model_tags t WHERE t.name = m.name", "m.name ASC")
	if err != nil {
		return nil, "", err
	}
	ms, err := s.scanModels(ctx, `SELECT name, creation_time, last_updated_time, description, user_id FROM registered_models m `+sel, args...)
	if err != nil {
		return nil, "", err
	}
	return trimPage(ms, token)
}

// SearchModelVersions implements Registry. Filters accept name, run_id,
// source_path, version_number and tags.<key>.
func (s *SQLStore) SearchModelVersions(ctx context.Context, q Search) ([]ModelVersion, string, error) {
	cols := map[string]searchCol{
		"name":                   {"mv.name", false},
		"run_id":                 {"mv.run_id", false},
		"source_path":            {"mv.source", false},
		"current_stage":          {"mv.current_stage", false},
		"version_number":         {"mv.version", true},
		"creation_timestamp":     {"mv.creation_time", true},
		"last_updated_timestamp": {"mv.last_updated_time", true},
		"timestamp":              {"mv.last_updated_time", true},
	}
	sel, args, token, err := registrySearch(q, 10000, 200000, cols,
		"model_version_tags t WHERE t.name = mv.name AND t.version = mv.version", "mv.name ASC, mv.version DESC")
	if err != nil {
		return nil, "", err
	}
	vs, err := s.scanVersions(ctx, `SELECT `+versionCols+` FROM model_versions mv `+sel, args...)
	if err != nil {
		return nil, "", err
	}
	return trimPage(vs, token)
}

type searchCol struct {
	col     string
	numeric bool
}

// registrySearch builds "WHERE ... ORDER BY ... LIMIT ? OFFSET ?" for a
// registry search. tagJoin is the FROM/WHERE of a tag subquery over alias t.
func registrySearch(q Search, def, max int, cols map[string]searchCol, tagJoin, defaultOrder string) (string, []any, pageInfo, error) {
	limit, err := checkMaxResults(q.MaxResults, def, max)
	if err != nil {
		return "", nil, pageInfo{}, err
	}
	offset, err := decodePageToken(q.PageToken)
	if err != nil {
		return "", nil, pageInfo{}, err
	}
	clauses, err := parseFilter(q.Filter)
	if err != nil {
		return "", nil, pageInfo{}, err
	}
	b := condBuilder{conds: []string{"1 = 1"}}
	for _, c := range clauses {
		switch col, ok := cols[c.key]; {
		case c.entity == "tag":
			var sub condBuilder
			if err := sub.stringCond("t.value", c); err != nil {
				return "", nil, pageInfo{}, err
			}
			b.add(`EXISTS (SELECT 1 FROM `+tagJoin+` AND t.key = ? AND `+sub.conds[0]+`)`, append([]any{c.key}, sub.args...)...)
		case c.entity == "attribute" && ok && col.numeric:
			err = b.numberCond(col.col, c, true)
		case c.entity == "attribute" && ok:
			err = b.stringCond(col.col, c)
		default:
			err = Errorf(InvalidParameterValue, "invalid filter key %q", c.key)
		}
		if err != nil {
			return "", nil, pageInfo{}, err
		}
	}
	order, err := parseOrderBy(q.OrderBy)
	if err != nil {
		return "", nil, pageInfo{}, err
	}
	var parts []string
	for _, o := range order {
		col, ok := cols[o.key]
		if o.entity != "attribute" || !ok {
			return "", nil, pageInfo{}, Errorf(InvalidParameterValue, "invalid order_by key %q", o.key)
		}
		parts = append(parts, col.col+direction(o.desc))
	}
	parts = append(parts, defaultOrder)
	sel := `WHERE ` + strings.Join(b.conds, " AND ") + ` ORDER BY ` + strings.Join(parts, ", ") + ` LIMIT ? OFFSET ?`
	return sel, append(b.args, limit+1, offset), pageInfo{offset, limit}, nil
}
