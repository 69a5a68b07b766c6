package tftpd

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// maxRendered bounds a rendered file; boot scripts and cmdline.txt are tiny,
// so hitting it means a runaway template, not a real need.
const maxRendered = 1 << 20

// scriptExt names files that are wrapped as U-Boot script images.
const scriptExt = ".scr"

// errTooLarge stops a template that renders past maxRendered.
var errTooLarge = errors.New("rendered output exceeds 1 MiB")

// render executes the template src (the content of res.Path) with the
// request's facts; NAME.scr output is wrapped as a legacy U-Boot script image
// dated with the template's mtime, so the same inputs give the same bytes.
func render(res Resolved, src []byte) ([]byte, error) {
	t, err := template.New(res.Path).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", res.Path, err)
	}
	var out limitedBuffer
	if err := t.Execute(&out, res.Facts); err != nil {
		return nil, fmt.Errorf("template %s: %w", res.Path, err)
	}
	if !strings.HasSuffix(res.Name, scriptExt) {
		return out.Bytes(), nil
	}
	return uimage.Script(out.Bytes(), ScriptName(res.Facts.Model), res.Info.ModTime(), scriptArch(res.Facts.Entry.Arch)), nil
}

// ScriptName is the uImage name of a generated stage-2 script (shown by
// U-Boot's `source` and by `mkimage -l`).
func ScriptName(model string) string {
	if model == "" {
		model = "default"
	}
	return "rpinetboot stage2 " + model
}

// scriptArch maps a models.yml arch to the uImage code; arm64 is the default.
func scriptArch(arch string) uint8 {
	if arch == "arm" {
		return uimage.ArchARM
	}
	return uimage.ArchARM64
}

// limitedBuffer is a bytes.Buffer that refuses to grow past maxRendered.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLarge
	}
	return b.Buffer.Write(p)
}
