package tune

import (
	"cmp"
	"fmt"
	"math"
	"sort"
	"time"
)

// State is the life-cycle state of a trial.
type State int

// The states of a trial. Only Running is not final.
const (
	Running     State = iota // sampled, objective in progress
	Complete                 // objective returned a value
	Pruned                   // stopped early by the pruner
	Failed                   // objective returned an error or panicked
	Interrupted              // the study stopped while the trial ran; its params are retried on resume
)

var stateNames = [...]string{"running", "complete", "pruned", "failed", "interrupted"}

// String returns the state's lower-case name.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// MarshalText encodes the state by name, so storage files are readable.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unknown trial state %q", b)
}

// ended reports whether a trial in state s counts towards a study's budget.
func (s State) ended() bool { return s == Complete || s == Pruned || s == Failed }

// Trial is the record of one evaluation of the objective. Value is the
// objective for Complete trials and the last intermediate value for Pruned
// ones. Intermediate maps step to reported value. RetryOf is the number of
// the interrupted trial whose point this trial evaluates again, if any.
type Trial struct {
	Number       int             `json:"number"`
	State        State           `json:"state"`
	Params       Params          `json:"params"`
	Value        float64         `json:"value,omitempty"`
	Intermediate map[int]float64 `json:"intermediate,omitempty"`
	Error        string          `json:"error,omitempty"`
	RetryOf      *int            `json:"retry_of,omitempty"`
	Start        time.Time       `json:"start"`
	End          time.Time       `json:"end,omitzero"`
}

// lastStep returns the highest reported step and its value, or -1 when the
// trial reported nothing.
func (t *Trial) lastStep() (int, float64) {
	step, v := -1, math.NaN()
	for s, x := range t.Intermediate {
		if s > step {
			step, v = s, x
		}
	}
	return step, v
}

// clone returns a deep copy of t.
func (t Trial) clone() Trial {
	p := make(Params, len(t.Params))
	for k, v := range t.Params {
		p[k] = v
	}
	t.Params = p
	if t.RetryOf != nil {
		n := *t.RetryOf
		t.RetryOf = &n
	}
	if t.Intermediate != nil {
		im := make(map[int]float64, len(t.Intermediate))
		for k, v := range t.Intermediate {
			im[k] = v
		}
		t.Intermediate = im
	}
	return t
}

// negated returns a deep copy of t with its value and intermediate values
// negated; it turns a maximised study into the minimised view that samplers
// and pruners see.
func (t Trial) negated() Trial {
	t = t.clone()
	t.Value = -t.Value
	for k, v := range t.Intermediate {
		t.Intermediate[k] = -v
	}
	return t
}

// rankKey orders trials for model-based samplers, best first: complete
// trials by value, then pruned trials by how far they got and their last
// value, then running trials (used as the constant liar's worst value).
// Failed and interrupted trials are not ranked.
type rankKey struct {
	group int // 0 complete, 1 pruned, 2 running
	step  int // pruned: negative last step
	value float64
}

func keyOf(t *Trial) rankKey {
	switch t.State {
	case Complete:
		return rankKey{0, 0, t.Value}
	case Pruned:
		step, v := t.lastStep()
		return rankKey{1, -step, v}
	}
	return rankKey{2, 0, 0}
}

// compare returns -1, 0 or 1 as a ranks before, with or after b.
func (a rankKey) compare(b rankKey) int {
	return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.step, b.step), cmp.Compare(a.value, b.value))
}

// Ranked returns the complete trials ordered best first (lowest value, or
// highest when maximize), ties broken by trial number.
func Ranked(trials []Trial, maximize bool) []Trial {
	var out []Trial
	for _, t := range trials {
		if t.State == Complete {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if maximize {
			return out[i].Value > out[j].Value
		}
		return out[i].Value < out[j].Value
	})
	return out
}
