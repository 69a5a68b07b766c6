package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
)

// Chart geometry: a boot-time CDF, one line per server.
const (
	chartW, chartH = 960, 600
	plotL, plotR   = 80, 930
	plotT, plotB   = 60, 530
	fontScale      = 2
)

var palette = []color.RGBA{
	{0xd6, 0x27, 0x28, 0xff}, // ours first: red
	{0x1f, 0x77, 0xb4, 0xff},
	{0x2c, 0xa0, 0x2c, 0xff},
	{0xff, 0x7f, 0x0e, 0xff},
	{0x94, 0x67, 0xbd, 0xff},
	{0x8c, 0x56, 0x4b, 0xff},
}

// writeChart draws the share of boards booted against time since power-on
// for every server's storm of n boards (failed boards never arrive, so a
// line that stops below 100 % shows the failures) and writes it as PNG.
func writeChart(path string, ss []stormResult, n int) error {
	var lines []stormResult
	xmax := 0.0
	for _, s := range ss {
		if s.Boards != n || s.Err != "" {
			continue
		}
		lines = append(lines, s)
		for _, t := range s.BootTimesMS {
			if !math.IsInf(t, 0) {
				xmax = math.Max(xmax, t/1000)
			}
		}
	}
	if len(lines) == 0 {
		return fmt.Errorf("chart: no storm of %d boards to draw", n)
	}
	step := niceStep(xmax / 8)
	xmax = math.Ceil(xmax/step) * step
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	black := color.RGBA{0, 0, 0, 0xff}
	px := func(x float64) int { return plotL + int(x/xmax*float64(plotR-plotL)) }
	py := func(y float64) int { return plotB - int(y/100*float64(plotB-plotT)) }
	for y := 0.0; y <= 100; y += 20 {
		line(img, plotL, py(y), plotR, py(y), grey, 1)
		label := fmt.Sprintf("%.0f%%", y)
		text(img, plotL-8-textW(label), py(y)-5, label, black)
	}
	for x := 0.0; x <= xmax+step/2; x += step {
		line(img, px(x), plotT, px(x), plotB, grey, 1)
		label := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".")
		text(img, px(x)-textW(label)/2, plotB+8, label, black)
	}
	line(img, plotL, plotB, plotR, plotB, black, 2)
	line(img, plotL, plotT, plotL, plotB, black, 2)
	text(img, plotL, 18, fmt.Sprintf("BOOT STORM, %d BOARDS (PI 3B+ ROM + PI 4 EEPROM): BOARDS BOOTED BY TIME", n), black)
	xl := "SECONDS FROM POWER-ON TO LAST BYTE"
	text(img, (plotL+plotR-textW(xl))/2, plotB+32, xl, black)
	for i, s := range lines {
		c := palette[i%len(palette)]
		prevX, prevY := px(0), py(0)
		for k, t := range s.BootTimesMS {
			if math.IsInf(t, 0) {
				break
			}
			x, y := px(t/1000), py(100*float64(k+1)/float64(len(s.BootTimesMS)))
			line(img, prevX, prevY, x, prevY, c, 2) // a CDF is a step function
			line(img, x, prevY, x, y, c, 2)
			prevX, prevY = x, y
		}
		line(img, prevX, prevY, plotR, prevY, c, 2)
		ly := plotT + 12 + i*22
		fill(img, image.Rect(plotR-330, ly, plotR-314, ly+12), c)
		text(img, plotR-306, ly+1, fmt.Sprintf("%s %.1f%% BOOTED", strings.ToUpper(s.Server), s.SuccessPct), black)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("chart %s: %w", path, err)
	}
	return f.Close()
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a straight line of width w (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, w int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fill(img, image.Rect(x0-w/2, y0-w/2, x0-w/2+w, y0-w/2+w), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if 2*e >= dy {
			e += dy
			x0 += sx
		}
		if 2*e <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// glyphs is a 3×5 pixel font: enough for the chart's upper-case labels.
var glyphs = map[rune][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"}, '1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"}, '3': {"###", "..#", "###", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"}, '5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"}, '7': {"###", "..#", "..#", "..#", "..#"},
	'8': {"###", "#.#", "###", "#.#", "###"}, '9': {"###", "#.#", "###", "..#", "###"},
	'A': {".#.", "#.#", "###", "#.#", "#.#"}, 'B': {"##.", "#.#", "##.", "#.#", "##."},
	'C': {".##", "#..", "#..", "#..", ".##"}, 'D': {"##.", "#.#", "#.#", "#.#", "##."},
	'E': {"###", "#..", "##.", "#..", "###"}, 'F': {"###", "#..", "##.", "#..", "#.."},
	'G': {".##", "#..", "#.#", "#.#", ".##"}, 'H': {"#.#", "#.#", "###", "#.#", "#.#"},
	'I': {"###", ".#.", ".#.", ".#.", "###"}, 'J': {"..#", "..#", "..#", "#.#", ".#."},
	'K': {"#.#", "#.#", "##.", "#.#", "#.#"}, 'L': {"#..", "#..", "#..", "#..", "###"},
	'M': {"#.#", "###", "###", "#.#", "#.#"}, 'N': {"##.", "#.#", "#.#", "#.#", "#.#"},
	'O': {".#.", "#.#", "#.#", "#.#", ".#."}, 'P': {"##.", "#.#", "##.", "#..", "#.."},
	'Q': {".#.", "#.#", "#.#", "###", ".##"}, 'R': {"##.", "#.#", "##.", "#.#", "#.#"},
	'S': {".##", "#..", ".#.", "..#", "##."}, 'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'U': {"#.#", "#.#", "#.#", "#.#", "###"}, 'V': {"#.#", "#.#", "#.#", "#.#", ".#."},
	'W': {"#.#", "#.#", "###", "###", "#.#"}, 'X': {"#.#", "#.#", ".#.", "#.#", "#.#"},
	'Y': {"#.#", "#.#", ".#.", ".#.", ".#."}, 'Z': {"###", "..#", ".#.", "#..", "###"},
	'-': {"...", "...", "###", "...", "..."}, '.': {"...", "...", "...", "...", ".#."},
	'%': {"#.#", "..#", ".#.", "#..", "#.#"}, '=': {"...", "###", "...", "###", "..."},
	'(': {".#.", "#..", "#..", "#..", ".#."}, ')': {".#.", "..#", "..#", "..#", ".#."},
	'/': {"..#", "..#", ".#.", "#..", "#.."}, ',': {"...", "...", "...", ".#.", "#.."},
	':': {"...", ".#.", "...", ".#.", "..."}, '+': {"...", ".#.", "###", ".#.", "..."},
	' ': {"...", "...", "...", "...", "..."},
}

func textW(s string) int { return len([]rune(s)) * 4 * fontScale }

// text draws s (upper-cased; unknown runes as blanks) with its top-left at x, y.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g := glyphs[r]
		for row, bits := range g {
			for col, b := range bits {
				if b == '#' {
					fill(img, image.Rect(x+col*fontScale, y+row*fontScale, x+(col+1)*fontScale, y+(row+1)*fontScale), c)
				}
			}
		}
		x += 4 * fontScale
	}
}
