//go:debug urlstrictcolons=0

// Command go-parsers answers what the cluster-version operator's spec validation
// (lib/validation/validation.go) asks of Go's parsers: whether net/url.Parse
// fails on a spec.upstream, and the variant and version github.com/google/uuid
// gives a spec.clusterID. It is a judge for differential tests; see
// ../../README.md for the protocol.
//
// The CVO's go.mod says go 1.25.7, so its url.Parse keeps the Go 1.25 default
// urlstrictcolons=0 (a host's port is what follows its last colon): so does
// this judge, through the //go:debug line at the top of this file.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"

	"cvo-update-verifier/interop/internal/protocol"

	"github.com/google/uuid"
)

const modulePath = "github.com/google/uuid"

type inputCase struct {
	ID string `json:"id"`
	// Kind is "url" (net/url.Parse) or "uuid" (uuid.Parse).
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

type input struct {
	Cases []inputCase `json:"cases"`
}

type result struct {
	ID string `json:"id"`
	// URLFails: url.Parse returned an error.
	URLFails bool `json:"urlFails,omitempty"`
	// RFC4122 and Version: uuid.Parse's result (the Nil UUID on error), as the CVO reads it.
	RFC4122 bool   `json:"rfc4122,omitempty"`
	Version int    `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	showVersion := flag.Bool("version", false, "print the Go and google/uuid versions and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("%s, %s %s\n", runtime.Version(), modulePath, protocol.ModuleVersion(modulePath))
		return
	}
	var in input
	if err := protocol.ReadBatch(os.Stdin, &in); err != nil {
		protocol.Fatal("go-parsers: %v", err)
	}
	out := protocol.NewLineWriter(os.Stdout)
	for _, c := range in.Cases {
		r := result{ID: c.ID}
		switch c.Kind {
		case "url":
			_, err := url.Parse(c.Value)
			r.URLFails = err != nil
		case "uuid":
			// The CVO ignores the error and reads the (Nil) UUID it got.
			id, _ := uuid.Parse(c.Value)
			r.RFC4122 = id.Variant() == uuid.RFC4122
			r.Version = int(id.Version())
		default:
			r.Error = fmt.Sprintf("unknown kind %q", c.Kind)
		}
		if err := out.Write(r); err != nil {
			protocol.Fatal("go-parsers: writing a result: %v", err)
		}
	}
}
