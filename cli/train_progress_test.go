package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mlenv/mlenv/train"
)

func TestRenderProgress(t *testing.T) {
	p := train.Progress{Step: 450, TotalSteps: 1000, Epoch: 1, Examples: 115200,
		Elapsed: 10 * time.Second, Remaining: 62400 * time.Millisecond, TrainLoss: 0.43214}
	text := " 45%  step 450/1000  epoch 1  11520 examples/s  ETA 1m2s  loss 0.4321"
	for _, tt := range []struct {
		columns int
		want    string
	}{
		// Wide: a 30-column bar, 45% of it filled.
		{200, "[=============>                ] " + text},
		// Narrower: the bar takes the room left, less one column.
		{len(text) + 24, "[=========>          ] " + text},
		// No room for a bar of 10: the text alone, cut to the width.
		{len(text) + 5, text},
		{20, text[:19]},
	} {
		got := renderProgress(p, tt.columns)
		if got != tt.want {
			t.Errorf("%d columns:\n got %q\nwant %q", tt.columns, got, tt.want)
		}
		if len(got) >= tt.columns {
			t.Errorf("%d columns: %d characters would wrap", tt.columns, len(got))
		}
	}

	// Before the first step's pace is known the ETA is unknown; at the end
	// the bar is full, nothing remains and no loss is shown before one is
	// known.
	start := renderProgress(train.Progress{TotalSteps: 10}, 120)
	if !strings.HasPrefix(start, "[>") || !strings.Contains(start, "  0%  step 0/10") || !strings.Contains(start, "ETA ?") || strings.Contains(start, "loss") {
		t.Errorf("at the start: %q", start)
	}
	end := renderProgress(train.Progress{Step: 10, TotalSteps: 10, Examples: 100, Elapsed: time.Second}, 120)
	if !strings.HasPrefix(end, "["+strings.Repeat("=", barColumns)+"] 100%") || !strings.Contains(end, "ETA 0s") {
		t.Errorf("at the end: %q", end)
	}
}

// The bar redraws in place (carriage return, erase to the end of the
// line) at most every redrawEvery, except at the last step, and clear
// erases it once.
func TestProgressBarRedraws(t *testing.T) {
	var buf bytes.Buffer
	b := &progressBar{w: &buf, fd: -1}
	b.update(train.Progress{Step: 1, TotalSteps: 3})
	b.last = time.Now().Add(time.Hour)               // as if just drawn
	b.update(train.Progress{Step: 2, TotalSteps: 3}) // within redrawEvery: skipped
	b.update(train.Progress{Step: 3, TotalSteps: 3}) // the last step: drawn
	lines := strings.Split(buf.String(), "\r")
	if len(lines) != 3 || lines[0] != "" || !strings.Contains(lines[1], "step 1/3") || !strings.Contains(lines[2], "step 3/3") ||
		!strings.HasSuffix(lines[2], "\x1b[K") || strings.Contains(buf.String(), "\n") {
		t.Errorf("output %q", buf.String())
	}
	buf.Reset()
	b.clear()
	b.clear()
	if buf.String() != "\r\x1b[K" {
		t.Errorf("clear wrote %q", buf.String())
	}
	var none *progressBar
	none.clear() // a nil bar (not a terminal) does nothing
	if newProgressBar(&buf) != nil {
		t.Error("a progress bar on a buffer, not a terminal")
	}
}
