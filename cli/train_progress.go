package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/mlenv/mlenv/train"
)

// progressBar is mlenv train's status line on a terminal: after every
// step it redraws, in place with a carriage return, a bar with the
// fraction of steps done, the throughput and the estimated time left. It
// redraws at most every redrawEvery, so that drawing costs the loop
// nothing. It is used from the training goroutine only.
type progressBar struct {
	w     io.Writer
	fd    int // the terminal, for its width
	last  time.Time
	shown bool // a status line is on the screen
}

const (
	redrawEvery = 100 * time.Millisecond
	// barColumns is the widest bar drawn; defaultColumns the width
	// assumed when the terminal's is unknown.
	barColumns     = 30
	defaultColumns = 80
)

// newProgressBar returns a progress bar on w when w is a terminal, and nil
// otherwise (a pipe, a file, a test's buffer), where mlenv train prints
// plain log lines only.
func newProgressBar(w io.Writer) *progressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progressBar{w: f, fd: int(f.Fd())}
}

// update redraws the status line for p, unless the previous redraw was
// less than redrawEvery ago and the run is not at its last step.
func (b *progressBar) update(p train.Progress) {
	now := time.Now()
	if b.shown && now.Sub(b.last) < redrawEvery && p.Step < p.TotalSteps {
		return
	}
	columns, _, err := term.GetSize(b.fd)
	if err != nil || columns <= 0 {
		columns = defaultColumns
	}
	fmt.Fprint(b.w, "\r"+renderProgress(p, columns)+"\x1b[K")
	b.last, b.shown = now, true
}

// clear erases the status line, if one is shown, so that a log line can
// take its place; the next update draws it again below. It does nothing
// on a nil bar.
func (b *progressBar) clear() {
	if b == nil || !b.shown {
		return
	}
	fmt.Fprint(b.w, "\r\x1b[K")
	b.shown = false
}

// renderProgress formats the status line for p in at most columns-1
// characters (a line as wide as the terminal would wrap):
//
//	[=========>          ]  45%  step 450/1000  epoch 0  12034 examples/s  ETA 1m2s  loss 0.4321
//
// The bar is left out when the text alone nearly fills the width, and the
// text is cut when it does not fit.
func renderProgress(p train.Progress, columns int) string {
	frac := 0.0
	if p.TotalSteps > 0 {
		frac = min(1, float64(p.Step)/float64(p.TotalSteps))
	}
	eta := "?"
	if p.Remaining > 0 || p.Step >= p.TotalSteps {
		eta = p.Remaining.Round(time.Second).String()
	}
	text := fmt.Sprintf("%3.0f%%  step %d/%d  epoch %d  %.0f examples/s  ETA %s",
		100*frac, p.Step, p.TotalSteps, p.Epoch, p.ExamplesPerSecond(), eta)
	if p.TrainLoss != 0 {
		text += fmt.Sprintf("  loss %.4f", p.TrainLoss)
	}
	room := columns - 1 - len(text) - len("[] ")
	if room < 10 {
		return text[:max(0, min(len(text), columns-1))]
	}
	n := min(room, barColumns)
	filled := int(frac * float64(n))
	bar := strings.Repeat("=", filled)
	if filled < n {
		bar += ">" + strings.Repeat(" ", n-filled-1)
	}
	return "[" + bar + "] " + text
}
