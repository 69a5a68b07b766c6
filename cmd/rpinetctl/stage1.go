package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/uboot"
	"github.com/rpinetboot/rpinetboot/internal/uimage"
)

// stage1 writes the SD card's stage-1 script image (or its text).
func (c *cli) stage1(args []string) int {
	fs := c.flags("stage1", "stage1 --model M [--vci rpi|walt] [--arch arm|arm64] (-o boot.scr | --text)")
	model := fs.String("model", "", "board model the script announces, e.g. rpi-4-b (required)")
	vci := fs.String("vci", uboot.VCIRPi, "bootp_vci style: rpi (the model name) or walt (walt.node.<model>)")
	arch := fs.String("arch", "arm", "uImage architecture: arm or arm64")
	out := fs.StringP("output", "o", "", "image file to write, e.g. boot.scr")
	text := fs.Bool("text", false, "print the script text instead of writing an image")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return c.usagef("stage1 takes no arguments, got %q", fs.Args())
	}
	if *model == "" {
		return c.usagef("stage1: --model is required (e.g. --model rpi-4-b)")
	}
	var archCode uint8
	switch *arch {
	case "arm":
		archCode = uimage.ArchARM
	case "arm64":
		archCode = uimage.ArchARM64
	default:
		return c.usagef("stage1: --arch %q: want arm or arm64", *arch)
	}
	script, err := uboot.Stage1(*model, *vci)
	if err != nil {
		return c.usagef("stage1: %v", err)
	}
	if *text {
		fmt.Fprint(c.stdout, script)
		return exitOK
	}
	if *out == "" {
		return c.usagef("stage1: -o FILE or --text is required")
	}
	mtime, err := buildTime()
	if err != nil {
		return c.usagef("stage1: %v", err)
	}
	img := uimage.Script([]byte(script), "rpinetboot stage1 "+*model, mtime, archCode)
	if err := os.WriteFile(*out, img, 0o644); err != nil {
		return c.failf("stage1: %v", err)
	}
	fmt.Fprintf(c.stdout, "wrote %s (%d bytes, stage 1 for %s)\n", *out, len(img), *model)
	return exitOK
}

// buildTime honours SOURCE_DATE_EPOCH like mkimage, for reproducible images.
func buildTime() (time.Time, error) {
	s, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || s == "" {
		return time.Now(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<32-1 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970 that fit 32 bits", s)
	}
	return time.Unix(n, 0), nil
}
