package tunejob

import (
	"github.com/mlenv/mlenv/tune"
)

// Summary is a study's outcome in the form `mlenv tune --json` prints and
// the parent tracking run records: the best trial, the trials with the
// complete ones first, ranked best first, then the others in order, the parameter
// importances and the training steps all trials took together.
type Summary struct {
	Study      string            `json:"study"`
	Metric     string            `json:"metric"`
	Maximize   bool              `json:"maximize"`
	Best       *TrialSummary     `json:"best,omitempty"`
	Trials     []TrialSummary    `json:"trials"`
	Importance []tune.Importance `json:"importance"`
	TotalSteps int               `json:"total_steps"`
}

// TrialSummary is one trial: its parameters as text (see Labels) and the
// steps it trained up to its last evaluation.
type TrialSummary struct {
	Number int               `json:"number"`
	State  string            `json:"state"`
	Value  float64           `json:"value"`
	Params map[string]string `json:"params"`
	Steps  int               `json:"steps"`
	Error  string            `json:"error,omitempty"`
}

// Summarize describes the trials of the study m.
func Summarize(m *Meta, space *tune.Space, trials []tune.Trial) Summary {
	s := Summary{Study: m.Name, Metric: m.Metric, Maximize: m.Maximize,
		Importance: tune.Importances(space, trials, 0), Trials: []TrialSummary{}}
	ranked := tune.Ranked(trials, m.Maximize)
	for _, t := range trials {
		s.TotalSteps += Steps(t)
		if t.State != tune.Complete {
			ranked = append(ranked, t)
		}
	}
	for _, t := range ranked {
		s.Trials = append(s.Trials, TrialSummary{Number: t.Number, State: t.State.String(), Value: t.Value,
			Params: Labels(space, t.Params), Steps: Steps(t), Error: t.Error})
	}
	if len(s.Trials) > 0 && s.Trials[0].State == tune.Complete.String() {
		s.Best = &s.Trials[0]
	}
	if s.Importance == nil {
		s.Importance = []tune.Importance{}
	}
	return s
}
