package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// clause is one comparison of an MLflow search filter, such as
// metrics.auc > 0.8 or tags."mlflow.user" LIKE 'a%'.
type clause struct {
	entity string   // metric, param, tag, attribute or dataset
	key    string   // the name after the entity prefix
	op     string   // =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL
	values []string // one value, several for IN, none for IS NULL
	quoted bool     // the value was a quoted string rather than a number
}

// entityPrefixes maps MLflow's identifier prefixes to entity kinds.
var entityPrefixes = map[string]string{
	"metric": "metric", "metrics": "metric",
	"param": "param", "params": "param", "parameter": "param", "parameters": "param",
	"tag": "tag", "tags": "tag",
	"attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
	"dataset": "dataset", "datasets": "dataset",
}

type token struct {
	kind string // word, string, quoted (identifier in backticks or double quotes), op, punct
	text string
}

// lex splits a filter or order-by expression into tokens.
func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"' || c == '`':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, Errorf(InvalidParameterValue, "invalid filter %q: unterminated quote at offset %d", s, i)
			}
			kind := "string"
			if c == '`' || (c == '"' && len(out) > 0 && strings.HasSuffix(out[len(out)-1].text, ".") && out[len(out)-1].kind == "word") {
				kind = "quoted"
			}
			out = append(out, token{kind, s[i+1 : i+1+j]})
			i += j + 2
		case c == '(' || c == ')' || c == ',':
			out = append(out, token{"punct", string(c)})
			i++
		case c == '=' || c == '<' || c == '>' || c == '!':
			j := i + 1
			if j < len(s) && (s[j] == '=' || (c == '<' && s[j] == '>')) {
				j++
			}
			op := s[i:j]
			if op == "!" {
				return nil, Errorf(InvalidParameterValue, "invalid filter %q: stray '!' at offset %d", s, i)
			}
			if op == "<>" {
				op = "!="
			}
			if op == "==" {
				op = "="
			}
			out = append(out, token{"op", op})
			i = j
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r'\"`(),=<>!", rune(s[j])) {
				j++
			}
			out = append(out, token{"word", s[i:j]})
			i = j
		}
	}
	return out, nil
}

// parser walks tokens of one expression.
type parser struct {
	src  string
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) next() (token, bool) {
	t, ok := p.peek()
	if ok {
		p.pos++
	}
	return t, ok
}

func (p *parser) errorf(format string, args ...any) error {
	return Errorf(InvalidParameterValue, "invalid filter %q: %s", p.src, fmt.Sprintf(format, args...))
}

func (p *parser) keyword(word string) bool {
	if t, ok := p.peek(); ok && t.kind == "word" && strings.EqualFold(t.text, word) {
		p.pos++
		return true
	}
	return false
}

// identifier reads [prefix.]key; a bare name is an attribute.
func (p *parser) identifier() (entity, key string, err error) {
	t, ok := p.next()
	if !ok {
		return "", "", p.errorf("expected an identifier at the end")
	}
	if t.kind == "quoted" || t.kind == "string" {
		return "attribute", t.text, nil
	}
	if t.kind != "word" {
		return "", "", p.errorf("expected an identifier, got %q", t.text)
	}
	prefix, rest, dotted := strings.Cut(t.text, ".")
	if !dotted {
		return "attribute", t.text, nil
	}
	entity, ok = entityPrefixes[strings.ToLower(prefix)]
	if !ok {
		return "", "", p.errorf("invalid entity type %q: want metrics, params, tags, attributes or datasets", prefix)
	}
	if rest == "" {
		q, ok := p.next()
		if !ok || q.kind != "quoted" && q.kind != "string" {
			return "", "", p.errorf("expected a key after %q", t.text)
		}
		rest = q.text
	}
	return entity, rest, nil
}

// value reads one literal: a quoted string or a number.
func (p *parser) value() (string, bool, error) {
	t, ok := p.next()
	if !ok {
		return "", false, p.errorf("expected a value at the end")
	}
	switch t.kind {
	case "string":
		return t.text, true, nil
	case "word":
		if _, err := strconv.ParseFloat(t.text, 64); err != nil {
			return "", false, p.errorf("value %s must be a number or a quoted string", t.text)
		}
		return t.text, false, nil
	}
	return "", false, p.errorf("expected a value, got %q", t.text)
}

// parseFilter parses "clause AND clause ...". An empty filter has no
// clauses.
func parseFilter(s string) ([]clause, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{src: s, toks: toks}
	var out []clause
	for len(toks) > 0 {
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if _, more := p.peek(); !more {
			break
		}
		if !p.keyword("AND") {
			t, _ := p.peek()
			return nil, p.errorf("expected AND, got %q (OR is not supported)", t.text)
		}
	}
	return out, nil
}

func (p *parser) clause() (clause, error) {
	entity, key, err := p.identifier()
	if err != nil {
		return clause{}, err
	}
	c := clause{entity: entity, key: key}
	t, ok := p.next()
	if !ok {
		return c, p.errorf("expected a comparator after %q", key)
	}
	switch {
	case t.kind == "op":
		c.op = t.text
	case t.kind == "word" && strings.EqualFold(t.text, "LIKE"), t.kind == "word" && strings.EqualFold(t.text, "ILIKE"):
		c.op = strings.ToUpper(t.text)
	case t.kind == "word" && strings.EqualFold(t.text, "IN"):
		c.op = "IN"
	case t.kind == "word" && strings.EqualFold(t.text, "NOT"):
		if !p.keyword("IN") {
			return c, p.errorf("expected IN after NOT")
		}
		c.op = "NOT IN"
	case t.kind == "word" && strings.EqualFold(t.text, "IS"):
		c.op = "IS NULL"
		if p.keyword("NOT") {
			c.op = "IS NOT NULL"
		}
		if !p.keyword("NULL") {
			return c, p.errorf("expected NULL after IS")
		}
		return c, nil
	default:
		return c, p.errorf("invalid comparator %q", t.text)
	}
	if c.op == "IN" || c.op == "NOT IN" {
		return c, p.list(&c)
	}
	v, quoted, err := p.value()
	if err != nil {
		return c, err
	}
	c.values, c.quoted = []string{v}, quoted
	return c, nil
}

// list reads ('a', 'b', ...) for IN.
func (p *parser) list(c *clause) error {
	if t, ok := p.next(); !ok || t.text != "(" {
		return p.errorf("expected ( after %s", c.op)
	}
	for {
		v, quoted, err := p.value()
		if err != nil {
			return err
		}
		c.values, c.quoted = append(c.values, v), quoted
		t, ok := p.next()
		if !ok {
			return p.errorf("unterminated list after %s", c.op)
		}
		if t.text == ")" {
			return nil
		}
		if t.text != "," {
			return p.errorf("expected , or ) in list, got %q", t.text)
		}
	}
}

// orderTerm is one order_by clause.
type orderTerm struct {
	entity, key string
	desc        bool
}

// parseOrderBy parses order_by clauses "[prefix.]key [ASC|DESC]".
func parseOrderBy(terms []string) ([]orderTerm, error) {
	out := make([]orderTerm, 0, len(terms))
	for _, s := range terms {
		toks, err := lex(s)
		if err != nil {
			return nil, err
		}
		p := &parser{src: s, toks: toks}
		entity, key, err := p.identifier()
		if err != nil {
			return nil, Errorf(InvalidParameterValue, "invalid order_by clause %q: %s", s, err.Error())
		}
		o := orderTerm{entity: entity, key: key}
		if p.keyword("DESC") {
			o.desc = true
		} else {
			p.keyword("ASC")
		}
		if _, more := p.peek(); more {
			return nil, Errorf(InvalidParameterValue, "invalid order_by clause %q: want \"key [ASC|DESC]\"", s)
		}
		out = append(out, o)
	}
	return out, nil
}

// condBuilder collects SQL conditions and their arguments.
type condBuilder struct {
	conds []string
	args  []any
}

func (b *condBuilder) add(cond string, args ...any) {
	b.conds = append(b.conds, cond)
	b.args = append(b.args, args...)
}

// stringCond adds a string comparison of col against c's values.
func (b *condBuilder) stringCond(col string, c clause) error {
	if !c.quoted && len(c.values) > 0 {
		return Errorf(InvalidParameterValue, "invalid filter: %s %s expects a quoted string value, got %s", c.key, c.op, c.values[0])
	}
	switch c.op {
	case "=", "!=":
		b.add(col+" "+c.op+" ?", c.values[0])
	case "LIKE":
		b.add(col+" LIKE ?", c.values[0])
	case "ILIKE":
		b.add("LOWER("+col+") LIKE LOWER(?)", c.values[0])
	case "IN", "NOT IN":
		args := make([]any, len(c.values))
		for i, v := range c.values {
			args[i] = v
		}
		b.add(col+" "+c.op+" ("+placeholders(len(c.values))+")", args...)
	default:
		return Errorf(InvalidParameterValue, "invalid filter: comparator %s is not allowed for %s, want =, !=, LIKE, ILIKE or IN", c.op, c.key)
	}
	return nil
}

// numberCond adds a numeric comparison of col against c's value; asInt
// compares as an integer (for times and versions).
func (b *condBuilder) numberCond(col string, c clause, asInt bool) error {
	switch c.op {
	case "=", "!=", "<", "<=", ">", ">=":
	default:
		return Errorf(InvalidParameterValue, "invalid filter: comparator %s is not allowed for numeric %s, want =, !=, <, <=, > or >=", c.op, c.key)
	}
	v, err := strconv.ParseFloat(c.values[0], 64)
	if err != nil {
		return Errorf(InvalidParameterValue, "invalid filter: %s %s expects a number, got %q", c.key, c.op, c.values[0])
	}
	if asInt {
		b.add(col+" "+c.op+" ?", int64(v))
		return nil
	}
	b.add(col+" "+c.op+" ?", v)
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// pageToken is the decoded form of the opaque page tokens the store hands
// out: the offset of the next page in the ordered result.
type pageToken struct {
	Offset int `json:"offset"`
}

func decodePageToken(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Offset < 0 {
		return 0, Errorf(InvalidParameterValue, "invalid page_token %q", s)
	}
	return t.Offset, nil
}

func encodePageToken(offset int) string {
	b, _ := json.Marshal(pageToken{Offset: offset})
	return base64.StdEncoding.EncodeToString(b)
}

// page runs the pagination arithmetic shared by searches: given the
// number of rows fetched (at most limit+1), it says whether there is a
// next page and returns its token.
func nextToken(offset, limit, fetched int) string {
	if fetched > limit {
		return encodePageToken(offset + limit)
	}
	return ""
}

// pageInfo is where a page starts and how long it is.
type pageInfo struct{ offset, limit int }

// trimPage cuts the extra row fetched to detect a next page and returns
// the page with the next page's token.
func trimPage[T any](rows []T, p pageInfo) ([]T, string, error) {
	token := nextToken(p.offset, p.limit, len(rows))
	if len(rows) > p.limit {
		rows = rows[:p.limit]
	}
	return rows, token, nil
}
