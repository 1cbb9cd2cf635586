// Command storage-harness applies image layers with containers/storage
// (go.podman.io/storage pkg/archive.ApplyLayer) and reports what the
// resulting root file system holds at the paths asked for. It is a reference
// judge for differential tests of our layer reader; see ../../README.md for
// the protocol.
//
// Model: every case gets a fresh empty directory and its layers are applied
// in order, lowest first, each with ApplyLayer (gzip, zstd or plain tar,
// detected by magic bytes), which is what the vfs graph driver does and what
// the merged view of overlay's lower-to-upper stack shows for layers that
// carry no overlay xattrs (ApplyLayer deletes on `.wh.<name>` and empties a
// directory on `.wh..wh..opq`; the overlay driver instead turns them into
// overlay whiteouts in per-layer directories, with the same merged result).
// Overlay xattrs (trusted.overlay.*) are written as plain xattrs here: the
// harness does not emulate an overlay mount.
package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/sirupsen/logrus"
	"go.podman.io/storage/pkg/archive"

	"cvo-update-verifier/interop/internal/protocol"
)

const modulePath = "go.podman.io/storage"

// listedDir is the directory whose direct children each result lists.
const listedDir = "release-manifests"

type batch struct {
	Cases []caseInput `json:"cases"`
}

type caseInput struct {
	ID string `json:"id"`
	// Layers are absolute paths of layer blobs, lowest layer first.
	Layers []string `json:"layers"`
	// Paths are archive paths (relative, `/`-separated) to read after applying.
	Paths []string `json:"paths"`
}

type caseResult struct {
	ID string `json:"id"`
	// Files maps each asked path to its content in base64, or null when the
	// path does not resolve (inside the root, symlinks followed as a
	// container would) to a regular file.
	Files map[string]*string `json:"files"`
	// Listing holds the direct children of release-manifests/, sorted; a
	// directory ends in `/`, a symlink in `@`, a non-regular file in `?`.
	Listing []string `json:"listing"`
	// Error is ApplyLayer's error (or a setup error); Files are then all null.
	Error string `json:"error,omitempty"`
	// Layer is the index of the layer whose application failed.
	Layer *int `json:"layer,omitempty"`
}

func main() {
	showVersion := flag.Bool("version", false, "print the containers/storage version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("%s %s\n", modulePath, protocol.ModuleVersion(modulePath))
		return
	}
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.WarnLevel)

	var in batch
	if err := protocol.ReadBatch(os.Stdin, &in); err != nil {
		protocol.Fatal("reading cases: %v", err)
	}
	out := protocol.NewLineWriter(os.Stdout)
	for _, c := range in.Cases {
		if err := out.Write(runCase(c)); err != nil {
			protocol.Fatal("writing result: %v", err)
		}
	}
}

func runCase(c caseInput) (result caseResult) {
	result = caseResult{ID: c.ID, Files: map[string]*string{}, Listing: []string{}}
	for _, p := range c.Paths {
		result.Files[p] = nil
	}
	defer func() {
		if r := recover(); r != nil {
			result.Error = fmt.Sprintf("panic: %v", r)
			for _, p := range c.Paths {
				result.Files[p] = nil
			}
		}
	}()
	root, err := os.MkdirTemp("", "storage-harness-")
	if err != nil {
		result.Error = err.Error()
		return result
	}
	for i, layer := range c.Layers {
		if err := applyWithTimeout(root, layer); err != nil {
			if errors.Is(err, errBlocked) {
				// The blocked goroutine may still write into root: leave it behind.
				result.Error = err.Error()
				result.Layer = &i
				return result
			}
			os.RemoveAll(root)
			result.Error = err.Error()
			result.Layer = &i
			return result
		}
	}
	defer os.RemoveAll(root)
	for _, p := range c.Paths {
		result.Files[p] = readInRoot(root, p)
	}
	result.Listing = list(root)
	return result
}

// applyTimeout bounds one layer: ApplyLayer can block for good (seen: a FIFO standing where a
// later entry's directory must be), and one case must not stall the batch.
const applyTimeout = 15 * time.Second

var errBlocked = errors.New("containers/storage blocked applying the layer (timed out)")

func applyWithTimeout(root, layer string) error {
	done := make(chan error, 1)
	go func() { done <- applyOne(root, layer) }()
	select {
	case err := <-done:
		return err
	case <-time.After(applyTimeout):
		return errBlocked
	}
}

func applyOne(root, layer string) error {
	if !filepath.IsAbs(layer) {
		return fmt.Errorf("layer path %q is not absolute", layer)
	}
	f, err := os.Open(layer)
	if err != nil {
		return err
	}
	defer f.Close()
	// ApplyLayer decompresses (DecompressStream) and calls UnpackLayer.
	_, err = archive.ApplyLayer(root, f)
	return err
}

// readInRoot resolves path inside root the way a process chrooted there
// would (absolute and relative symlinks stay inside root) and returns the
// regular file's content, or nil.
func readInRoot(root, path string) *string {
	full, err := securejoin.SecureJoin(root, path)
	if err != nil {
		return nil
	}
	fi, err := os.Lstat(full)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(data)
	return &s
}

func list(root string) []string {
	dir, err := securejoin.SecureJoin(root, listedDir)
	if err != nil {
		return []string{}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return []string{"!" + err.Error()}
		}
		return []string{}
	}
	names := []string{}
	for _, e := range entries {
		name := listedDir + "/" + e.Name()
		switch t := e.Type(); {
		case t.IsDir():
			name += "/"
		case t&fs.ModeSymlink != 0:
			name += "@"
		case !t.IsRegular():
			name += "?"
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
