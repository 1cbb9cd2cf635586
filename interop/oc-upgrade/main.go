// Command oc-upgrade-harness runs `oc adm upgrade`'s own Complete and Run (upgrade_oc.go,
// generated from an oc checkout at build time by test/tooling/extract-oc-upgrade.ts; not in this
// repository) against a fake clientset holding one ClusterVersion, and reports what oc printed,
// its exit code and what it left in spec.desiredUpdate. It is the judge of
// test/interop/differential-oc-upgrade.optional.ts (`npm run interop:oc`).
//
// stdin: {"cases":[{"id","flags":{…Options fields…},"clusterVersion":{…}|null}]}; unknown fields
// are refused. stdout: one JSON line per case, in order:
// {"id","stdout","stderr","exitCode","patches","desiredUpdate"}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/client-go/config/clientset/versioned/fake"
	"k8s.io/apimachinery/pkg/runtime"
)

// flags are the Options fields the command line sets, named as oc's Options names them.
type flags struct {
	To                       string
	ToImage                  string
	ToLatestAvailable        bool
	ToMultiArch              bool
	AllowExplicitUpgrade     bool
	AllowUpgradeWithWarnings bool
	Force                    bool
	Clear                    bool
	IncludeNotRecommended    bool
	AllowNotRecommended      bool
}

type inputCase struct {
	ID             string          `json:"id"`
	Flags          flags           `json:"flags"`
	ClusterVersion json.RawMessage `json:"clusterVersion"`
}

type input struct {
	Cases []inputCase `json:"cases"`
}

type result struct {
	ID       string `json:"id"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exitCode"`
	// Patches counts the patch requests oc sent.
	Patches       int              `json:"patches"`
	DesiredUpdate *configv1.Update `json:"desiredUpdate"`
	Error         string           `json:"error,omitempty"`
}

// checkErr prints an error as kcmdutil.CheckErr does for a plain error (k8s.io/kubectl
// pkg/cmd/util/helpers.go checkErr and fatal): "error: " unless the message starts with it, a
// newline unless it ends with one; the exit code is 1.
func checkErr(err error, stderr *bytes.Buffer) int {
	msg := err.Error()
	if !strings.HasPrefix(msg, "error: ") {
		msg = fmt.Sprintf("error: %s", msg)
	}
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	stderr.WriteString(msg)
	return 1
}

func runCase(c inputCase) (r result) {
	r.ID = c.ID
	defer func() {
		if p := recover(); p != nil {
			r.Error = fmt.Sprintf("panic: %v", p)
		}
	}()
	var stdout, stderr bytes.Buffer
	o := &Options{
		Out:                      &stdout,
		ErrOut:                   &stderr,
		To:                       c.Flags.To,
		ToImage:                  c.Flags.ToImage,
		ToLatestAvailable:        c.Flags.ToLatestAvailable,
		ToMultiArch:              c.Flags.ToMultiArch,
		AllowExplicitUpgrade:     c.Flags.AllowExplicitUpgrade,
		AllowUpgradeWithWarnings: c.Flags.AllowUpgradeWithWarnings,
		Force:                    c.Flags.Force,
		Clear:                    c.Flags.Clear,
		IncludeNotRecommended:    c.Flags.IncludeNotRecommended,
		AllowNotRecommended:      c.Flags.AllowNotRecommended,
	}
	var objects []runtime.Object
	if len(c.ClusterVersion) > 0 && string(c.ClusterVersion) != "null" {
		cv := &configv1.ClusterVersion{}
		if err := json.Unmarshal(c.ClusterVersion, cv); err != nil {
			r.Error = fmt.Sprintf("clusterVersion: %v", err)
			return r
		}
		objects = append(objects, cv)
	}
	client := fake.NewSimpleClientset(objects...)
	o.Client = client
	if err := o.Complete(); err != nil {
		r.ExitCode = checkErr(err, &stderr)
	} else if err := o.Run(); err != nil {
		r.ExitCode = checkErr(err, &stderr)
	}
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	for _, action := range client.Actions() {
		if action.GetVerb() == "patch" {
			r.Patches++
		}
	}
	if len(objects) > 0 {
		cv, err := client.Tracker().Get(configv1.GroupVersion.WithResource("clusterversions"), "", "version")
		if err != nil {
			r.Error = fmt.Sprintf("reading the ClusterVersion back: %v", err)
			return r
		}
		r.DesiredUpdate = cv.(*configv1.ClusterVersion).Spec.DesiredUpdate
	}
	return r
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	var in input
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "oc-upgrade-harness: bad input: %v\n", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for _, c := range in.Cases {
		if err := enc.Encode(runCase(c)); err != nil {
			fmt.Fprintf(os.Stderr, "oc-upgrade-harness: %v\n", err)
			os.Exit(2)
		}
		_ = out.Flush()
	}
}
