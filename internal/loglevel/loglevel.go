// Package loglevel applies the -L/--loglevel flag values that coredhcp and
// rpi-tftpd share, so both daemons accept the same names.
package loglevel

import (
	"fmt"
	"io"

	"github.com/sirupsen/logrus"
)

// Names lists the accepted values, for flag help and error messages.
const Names = "none, debug, info, warning, error, fatal"

// Set applies the named level to l; "none" discards all output.
func Set(l *logrus.Logger, name string) error {
	switch name {
	case "none":
		l.SetOutput(io.Discard)
	case "debug":
		l.SetLevel(logrus.DebugLevel)
	case "info":
		l.SetLevel(logrus.InfoLevel)
	case "warning":
		l.SetLevel(logrus.WarnLevel)
	case "error":
		l.SetLevel(logrus.ErrorLevel)
	case "fatal":
		l.SetLevel(logrus.FatalLevel)
	default:
		return fmt.Errorf("invalid log level %q: want %s", name, Names)
	}
	return nil
}
