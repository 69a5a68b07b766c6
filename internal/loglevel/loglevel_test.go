package loglevel

import (
	"bytes"
	"testing"

	"github.com/sirupsen/logrus"
)

// TestSet: each name sets its level, "none" silences, a typo is an error.
func TestSet(t *testing.T) {
	for name, want := range map[string]logrus.Level{"debug": logrus.DebugLevel, "info": logrus.InfoLevel,
		"warning": logrus.WarnLevel, "error": logrus.ErrorLevel, "fatal": logrus.FatalLevel} {
		l := logrus.New()
		if err := Set(l, name); err != nil || l.GetLevel() != want {
			t.Errorf("Set(%q): level %v, err %v; want %v", name, l.GetLevel(), err, want)
		}
	}
	l := logrus.New()
	var buf bytes.Buffer
	l.SetOutput(&buf)
	if err := Set(l, "none"); err != nil {
		t.Fatal(err)
	}
	l.Error("must not appear")
	if buf.Len() != 0 {
		t.Errorf(`"none" still logged %q`, buf.String())
	}
	if err := Set(logrus.New(), "verbose"); err == nil {
		t.Error(`Set("verbose") accepted`)
	}
}
