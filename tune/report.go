package tune

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteReport writes a study's summary as text: the counts of trials by
// state, the best trial, the top complete trials ranked best first (one
// column per parameter, "-" where inactive) and the parameter importances.
func WriteReport(w io.Writer, space *Space, trials []Trial, maximize bool, top int) error {
	counts := map[State]int{}
	for _, t := range trials {
		counts[t.State]++
	}
	var parts []string
	for s := Running; s <= Interrupted; s++ {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(w, "trials: %d (%s)\n", len(trials), strings.Join(parts, ", "))
	ranked := Ranked(trials, maximize)
	if len(ranked) == 0 {
		_, err := fmt.Fprintln(w, "no complete trial")
		return err
	}
	fmt.Fprintf(w, "best: trial %d, value %.6g\n\n", ranked[0].Number, ranked[0].Value)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "rank\ttrial\tvalue")
	for _, p := range space.params {
		fmt.Fprintf(tw, "\t%s", p.Name)
	}
	fmt.Fprintln(tw)
	for i, t := range ranked[:min(top, len(ranked))] {
		fmt.Fprintf(tw, "%d\t%d\t%.6g", i+1, t.Number, t.Value)
		for _, p := range space.params {
			v, ok := t.Params[p.Name]
			if ok {
				fmt.Fprintf(tw, "\t%s", p.Format(v))
			} else {
				fmt.Fprint(tw, "\t-")
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	imp := Importances(space, trials, 0)
	if len(imp) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nparameter importance (share of main-effect variance):")
	for _, p := range imp {
		fmt.Fprintf(w, "  %-20s %5.1f%%\n", p.Param, 100*p.Share)
	}
	return nil
}
