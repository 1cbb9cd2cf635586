// Package protocol holds the stdin/stdout plumbing shared by the harnesses:
// one JSON document with a "cases" array on stdin, one JSON line per case on
// stdout, flushed as soon as the case is decided so a caller can stream.
package protocol

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// ReadBatch decodes the whole stdin document into batch. Unknown fields are
// rejected on purpose: a misspelt option in a differential test must fail
// loudly rather than silently change what the reference is asked.
func ReadBatch(r io.Reader, batch any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(batch); err != nil {
		return fmt.Errorf("decoding the input document: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("decoding the input document: unexpected data after the JSON object")
	}
	return nil
}

// LineWriter writes one JSON object per line.
type LineWriter struct {
	w *bufio.Writer
}

// NewLineWriter returns a LineWriter on w.
func NewLineWriter(w io.Writer) *LineWriter {
	return &LineWriter{w: bufio.NewWriter(w)}
}

// Write encodes v on one line and flushes it.
func (l *LineWriter) Write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := l.w.Write(b); err != nil {
		return err
	}
	return l.w.Flush()
}

// ModuleVersion reports the version of module path linked into this binary,
// as recorded by the Go toolchain (so it cannot drift from go.mod).
func ModuleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown: no build info)"
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Version + " => " + dep.Replace.Path + " " + dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "(unknown: not linked)"
}

// Fatal prints a message for a batch-level failure (bad input, cannot write)
// and exits with status 2. Per-case failures never come here.
func Fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}
