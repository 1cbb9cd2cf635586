// The judge runs the MCO's own helpers (copied verbatim into helpers_extracted.go by extract.py)
// on the ClusterImagePolicy/ImagePolicy cases read from stdin and prints, per case, what the MCO
// writes: policy.json, the per-namespace CRI-O policies, the registries.d file and the
// ImagePolicy status conditions. It follows registriesConfigIgnition's policy branch with no
// allowed or blocked registries and no mirrors.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	apicfgv1 "github.com/openshift/api/config/v1"
	yamlv2 "gopkg.in/yaml.v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type condition struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
	Status    string `json:"status"`
}

// statusRecorder stands in for *Controller: it records the status update the MCO would write.
type statusRecorder struct{ conditions []condition }

func (r *statusRecorder) syncImagePolicyStatusOnly(namespace, imagepolicy, conditionType, reason, msg string, status metav1.ConditionStatus) {
	r.conditions = append(r.conditions, condition{namespace, imagepolicy, conditionType, reason, msg, string(status)})
}

type testCase struct {
	ID                   string                         `json:"id"`
	Description          string                         `json:"description"`
	ClusterImagePolicies []*apicfgv1.ClusterImagePolicy `json:"clusterImagePolicies"`
	ImagePolicies        []*apicfgv1.ImagePolicy        `json:"imagePolicies"`
}

type input struct {
	TemplatePath string     `json:"templatePath"`
	Cases        []testCase `json:"cases"`
}

type output struct {
	PolicyJSON  *string           `json:"policyJSON"`
	Namespaced  map[string]string `json:"namespaced"`
	RegistriesD *string           `json:"registriesD"`
	Conditions  []condition       `json:"conditions"`
	Error       string            `json:"error,omitempty"`
}

func str(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func main() {
	var in input
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	tpl, err := os.ReadFile(in.TemplatePath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var file struct {
		Contents struct {
			Inline string `yaml:"inline"`
		} `yaml:"contents"`
	}
	if err := yamlv2.Unmarshal(tpl, &file); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	template := []byte(file.Contents.Inline)

	results := map[string]output{}
	for _, tc := range in.Cases {
		results[tc.ID] = judge(template, tc)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// judge is registriesConfigIgnition's policy branch for one case.
func judge(template []byte, tc testCase) output {
	rec := &statusRecorder{}
	out := output{Namespaced: map[string]string{}, Conditions: []condition{}}
	run := func() error {
		clusterScopePolicies, scopeNamespacePolicies, err := getValidScopePolicies(tc.ClusterImagePolicies, tc.ImagePolicies, rec)
		if err != nil {
			return err
		}
		if len(clusterScopePolicies) > 0 || len(scopeNamespacePolicies) > 0 {
			policyJSON, err := updatePolicyJSON(template, nil, nil, "quay.io/openshift-release-dev/ocp-release@sha256:0000000000000000000000000000000000000000000000000000000000000000", clusterScopePolicies)
			if err != nil {
				return err
			}
			out.PolicyJSON = str(policyJSON)
			namespaced, err := updateNamespacedPolicyJSONs(policyJSON, nil, nil, scopeNamespacePolicies)
			if err != nil {
				return err
			}
			for ns, b := range namespaced {
				out.Namespaced[ns] = string(b)
			}
			registriesD, err := generateSigstoreRegistriesdConfig(clusterScopePolicies, scopeNamespacePolicies, nil)
			if err != nil {
				return err
			}
			out.RegistriesD = str(registriesD)
		}
		return nil
	}
	if err := run(); err != nil {
		out.Error = err.Error()
	}
	out.Conditions = append(out.Conditions, rec.conditions...)
	return out
}
