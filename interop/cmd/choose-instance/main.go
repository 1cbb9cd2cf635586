// Command choose-instance asks containers/image which instance of a manifest
// list or OCI index a node of a given platform would pull: manifest.ListFromBlob
// followed by List.ChooseInstance, the code CRI-O runs through copy.Image. It is
// a judge for differential tests; see ../../README.md for the protocol.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"

	"cvo-update-verifier/interop/internal/protocol"

	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/types"
	imageversion "go.podman.io/image/v5/version"
)

const modulePath = "go.podman.io/image/v5"

// inputCase is one question: the list's exact bytes, the MIME type it was
// served with (the registry's Content-Type), and the wanted platform.
type inputCase struct {
	ID           string `json:"id"`
	Manifest     string `json:"manifest"` // standard base64 of the list's bytes
	MediaType    string `json:"mediaType"`
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

type input struct {
	Cases []inputCase `json:"cases"`
}

type result struct {
	ID     string `json:"id"`
	Digest string `json:"digest,omitempty"`
	Error  string `json:"error,omitempty"`
	Stage  string `json:"stage,omitempty"`
}

func main() {
	showVersion := flag.Bool("version", false, "print the containers/image version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("%s %s (version.Version %s)\n", modulePath, protocol.ModuleVersion(modulePath), imageversion.Version)
		return
	}
	var in input
	if err := protocol.ReadBatch(os.Stdin, &in); err != nil {
		protocol.Fatal("choose-instance: %v", err)
	}
	out := protocol.NewLineWriter(os.Stdout)
	for _, c := range in.Cases {
		if err := out.Write(decide(c)); err != nil {
			protocol.Fatal("choose-instance: writing a result: %v", err)
		}
	}
}

func decide(c inputCase) (r result) {
	r.ID = c.ID
	defer func() {
		if p := recover(); p != nil {
			r = result{ID: c.ID, Error: fmt.Sprintf("panic: %v", p), Stage: "panic"}
		}
	}()
	// An empty choice would make containers/image use this process's own
	// runtime.GOOS/GOARCH (and read /proc/cpuinfo for an ARM variant): the
	// question would then depend on the machine running the test.
	if c.OS == "" || c.Architecture == "" {
		return result{ID: c.ID, Error: "os and architecture are required", Stage: "input"}
	}
	blob, err := base64.StdEncoding.DecodeString(c.Manifest)
	if err != nil {
		return result{ID: c.ID, Error: err.Error(), Stage: "input"}
	}
	list, err := manifest.ListFromBlob(blob, c.MediaType)
	if err != nil {
		return result{ID: c.ID, Error: err.Error(), Stage: "parse"}
	}
	chosen, err := list.ChooseInstance(&types.SystemContext{
		OSChoice:           c.OS,
		ArchitectureChoice: c.Architecture,
		VariantChoice:      c.Variant,
	})
	if err != nil {
		return result{ID: c.ID, Error: err.Error(), Stage: "choose"}
	}
	return result{ID: c.ID, Digest: chosen.String()}
}
