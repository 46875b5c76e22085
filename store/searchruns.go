package store

import (
	"context"
	"fmt"
	"strings"
)

// runAttributes maps run attributes usable in filters and order_by to
// columns; numeric ones compare as integers.
var runAttributes = map[string]struct {
	col     string
	numeric bool
}{
	"run_id":          {"r.run_uuid", false},
	"run_name":        {"r.name", false},
	"status":          {"r.status", false},
	"user_id":         {"r.user_id", false},
	"artifact_uri":    {"r.artifact_uri", false},
	"lifecycle_stage": {"r.lifecycle_stage", false},
	"start_time":      {"r.start_time", true},
	"end_time":        {"r.end_time", true},
	"created":         {"r.start_time", true},
	"Created":         {"r.start_time", true},
}

// runQuery assembles the SQL of a runs search.
type runQuery struct {
	joins   []string
	where   condBuilder
	joinArg []any
	// metricAlias is the inner-joined latest_metrics alias of each metric
	// key the filter compares, reused when ordering by the same key.
	metricAlias map[string]string
	// metrics is set once the query reads latest_metrics.
	metrics bool
}

func (q *runQuery) alias(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, len(q.joins))
}

// SearchRuns implements Tracking.
func (s *SQLStore) SearchRuns(ctx context.Context, rs RunSearch) ([]Run, string, error) {
	limit, err := checkMaxResults(rs.MaxResults, 1000, 50000)
	if err != nil {
		return nil, "", err
	}
	offset, err := decodePageToken(rs.PageToken)
	if err != nil {
		return nil, "", err
	}
	if len(rs.ExperimentIDs) == 0 {
		return nil, "", Errorf(InvalidParameterValue, "experiment_ids must name at least one experiment")
	}
	clauses, err := parseFilter(rs.Filter)
	if err != nil {
		return nil, "", err
	}
	order, err := parseOrderBy(rs.OrderBy)
	if err != nil {
		return nil, "", err
	}
	q := &runQuery{metricAlias: map[string]string{}}
	exps := make([]any, len(rs.ExperimentIDs))
	for i, id := range rs.ExperimentIDs {
		n, err := parseExperimentID(id)
		if err != nil {
			return nil, "", err
		}
		exps[i] = n
	}
	q.where.add(`r.experiment_id IN (`+placeholders(len(exps))+`)`, exps...)
	q.where.add(lifecycleCond("r.lifecycle_stage", rs.ViewType))
	for _, c := range clauses {
		if err := q.addClause(c); err != nil {
			return nil, "", err
		}
	}
	orderSQL, err := q.orderBy(order)
	if err != nil {
		return nil, "", err
	}
	sqlText := `SELECT ` + prefixCols("r.", runCols) + ` FROM runs r ` + strings.Join(q.joins, " ") +
		` WHERE ` + strings.Join(q.where.conds, " AND ") + ` ORDER BY ` + orderSQL + ` LIMIT ? OFFSET ?`
	args := append(append(q.joinArg, q.where.args...), limit+1, offset)
	if q.metrics {
		if err := s.settleAll(ctx); err != nil {
			return nil, "", err
		}
	}
	runs, err := s.scanRuns(ctx, sqlText, args...)
	if err != nil {
		return nil, "", err
	}
	return trimPage(runs, pageInfo{offset, limit})
}

func (q *runQuery) addClause(c clause) error {
	switch c.entity {
	case "metric":
		q.metrics = true
		a, ok := q.metricAlias[c.key]
		if !ok {
			a = q.alias("m")
			q.joins = append(q.joins, `JOIN latest_metrics `+a+` ON `+a+`.run_key = r.run_key AND `+a+`.key = ?`)
			q.joinArg = append(q.joinArg, c.key)
			q.metricAlias[c.key] = a
		}
		if c.quoted {
			return Errorf(InvalidParameterValue, "invalid filter: metric %q must be compared with a number, got '%s'", c.key, c.values[0])
		}
		return q.where.numberCond(a+".value", c, false)
	case "param", "tag":
		table := "params"
		if c.entity == "tag" {
			table = "tags"
		}
		if c.op == "IS NULL" || c.op == "IS NOT NULL" {
			not := "NOT "
			if c.op == "IS NOT NULL" {
				not = ""
			}
			q.where.add(not+`EXISTS (SELECT 1 FROM `+table+` x WHERE x.run_key = r.run_key AND x.key = ?)`, c.key)
			return nil
		}
		a := q.alias(table[:1])
		q.joins = append(q.joins, `JOIN `+table+` `+a+` ON `+a+`.run_key = r.run_key AND `+a+`.key = ?`)
		q.joinArg = append(q.joinArg, c.key)
		return q.where.stringCond(a+".value", c)
	case "attribute":
		attr, ok := runAttributes[c.key]
		if !ok {
			return Errorf(InvalidParameterValue, "invalid attribute key %q: want run_id, run_name, status, user_id, artifact_uri, start_time or end_time", c.key)
		}
		if attr.numeric {
			return q.where.numberCond(attr.col, c, true)
		}
		return q.where.stringCond(attr.col, c)
	case "dataset":
		var sub condBuilder
		col := map[string]string{"name": "d.name", "digest": "d.digest", "context": "it.value"}[c.key]
		if col == "" {
			return Errorf(InvalidParameterValue, "invalid dataset key %q: want name, digest or context", c.key)
		}
		if err := sub.stringCond(col, c); err != nil {
			return err
		}
		q.where.add(`EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_key = i.dataset_key
			LEFT JOIN input_tags it ON it.run_key = i.run_key AND it.dataset_key = i.dataset_key AND it.key = 'mlflow.data.context'
			WHERE i.run_key = r.run_key AND `+sub.conds[0]+`)`, sub.args...)
		return nil
	}
	return Errorf(InvalidParameterValue, "invalid filter entity %q", c.entity)
}

// orderBy returns the ORDER BY list: the requested terms (runs lacking a
// metric, param or tag sort last), then start_time DESC and run_id.
func (q *runQuery) orderBy(terms []orderTerm) (string, error) {
	var parts []string
	for _, o := range terms {
		dir := direction(o.desc)
		switch o.entity {
		case "attribute":
			attr, ok := runAttributes[o.key]
			if !ok {
				return "", Errorf(InvalidParameterValue, "invalid order_by attribute %q", o.key)
			}
			parts = append(parts, attr.col+dir)
		case "metric", "param", "tag":
			if a, ok := q.metricAlias[o.key]; ok && o.entity == "metric" {
				parts = append(parts, a+".value"+dir)
				continue
			}
			table := map[string]string{"metric": "latest_metrics", "param": "params", "tag": "tags"}[o.entity]
			q.metrics = q.metrics || o.entity == "metric"
			a := q.alias("o")
			q.joins = append(q.joins, `LEFT JOIN `+table+` `+a+` ON `+a+`.run_key = r.run_key AND `+a+`.key = ?`)
			q.joinArg = append(q.joinArg, o.key)
			parts = append(parts, `(`+a+`.value IS NULL)`, a+".value"+dir)
		default:
			return "", Errorf(InvalidParameterValue, "invalid order_by entity %q", o.entity)
		}
	}
	parts = append(parts, "r.start_time DESC", "r.run_uuid ASC")
	return strings.Join(parts, ", "), nil
}
