package explain

import (
	"bufio"
	"fmt"
	"html"
	"io"
)

// Chart geometry in SVG user units.
const (
	chartWidth = 640
	barHeight  = 18
	barGap     = 6
	labelWidth = 180
	valueWidth = 90
	chartTop   = 40
	chartPad   = 12
)

// WriteSVG draws the ranking as a horizontal bar chart (bar length:
// mean absolute attribution; colour: sign of the mean attribution, blue
// for positive, red for negative) as a standalone SVG document. At most
// limit features are drawn (all for limit <= 0).
func (r Report) WriteSVG(w io.Writer, limit int) error {
	ranks := r.Ranking
	if limit > 0 && len(ranks) > limit {
		ranks = ranks[:limit]
	}
	height := chartTop + len(ranks)*(barHeight+barGap) + chartPad
	span := chartWidth - labelWidth - valueWidth - 2*chartPad
	var top float64
	for _, k := range ranks {
		top = max(top, k.MeanAbs)
	}
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="22" font-size="14" font-weight="bold">Feature importance: mean |integrated gradients| (%s, %d steps, %d examples)</text>`+"\n",
		chartPad, html.EscapeString(string(r.Method)), r.Steps, r.Examples)
	for i, k := range ranks {
		y := chartTop + i*(barHeight+barGap)
		length := 0.0
		if top > 0 {
			length = k.MeanAbs / top * float64(span)
		}
		colour := "#3b6fb6"
		if k.Mean < 0 {
			colour = "#c0504d"
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n",
			labelWidth, y+barHeight-5, html.EscapeString(k.Feature))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: mean |a| %.6g, mean a %+.6g</title></rect>`+"\n",
			labelWidth+chartPad, y, length, barHeight, colour, html.EscapeString(k.Feature), k.MeanAbs, k.Mean)
		fmt.Fprintf(b, `<text x="%.1f" y="%d">%.4g</text>`+"\n",
			float64(labelWidth+2*chartPad)+length, y+barHeight-5, k.MeanAbs)
	}
	fmt.Fprintln(b, "</svg>")
	return b.Flush()
}
