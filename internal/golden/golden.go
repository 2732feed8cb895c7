// Package golden compares what a test produced with a golden file, and
// rewrites the file instead when the test binary runs with -update:
//
//	go test ./synth/ -update
//
// It is for tests only: importing it defines the -update flag, once for the
// whole test binary.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata (and other generated files) instead of comparing with them")

// Update reports whether the test binary runs with -update. Tests that
// generate other files (a screenshot) write them only then.
func Update() bool {
	return *update
}

// Check compares got with the file at path. With -update it first writes
// got there, creating the directory. A difference fails the test, listing
// the lines only in the file (-) and only in got (+).
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the test produced (go test -update rewrites it):\n%s", path, LineDiff(string(want), string(got)))
	}
}

// LineDiff lists the lines only in want (-) and only in got (+): enough to
// read a small difference, without the cost of a real diff.
func LineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var sb strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			sb.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			sb.WriteString("+ " + l + "\n")
		}
	}
	if sb.Len() == 0 {
		return "(same lines, different order or count)"
	}
	return sb.String()
}
