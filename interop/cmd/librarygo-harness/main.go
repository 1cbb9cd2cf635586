// Command librarygo-harness asks openshift/library-go pkg/verify whether a
// release digest carries the GPG signatures a release payload's verification
// ConfigMap demands, building the verifier the way the cluster-version
// operator does (manifest.ManifestsFromFiles → verify.NewFromManifests →
// AddStore → Verify). It is a reference judge for differential tests; see
// ../../README.md for the protocol.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/openshift/library-go/pkg/manifest"
	"github.com/openshift/library-go/pkg/verify"
	"github.com/openshift/library-go/pkg/verify/store"
	"github.com/openshift/library-go/pkg/verify/store/configmap"
	"github.com/openshift/library-go/pkg/verify/store/parallel"
	"github.com/openshift/library-go/pkg/verify/store/sigstore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/klog/v2"

	"cvo-update-verifier/interop/internal/protocol"
)

const modulePath = "github.com/openshift/library-go"

type batch struct {
	Cases []caseInput `json:"cases"`
}

type caseInput struct {
	ID string `json:"id"`
	// Manifests is one path or a list of paths: YAML/JSON files holding one
	// or more manifests, or directories whose *.yaml/*.yml/*.json files are
	// read in name order (like a payload's release-manifests/).
	Manifests stringList `json:"manifests"`
	// Digest is handed to Verify unchanged ("" exercises the by-tag error).
	Digest string `json:"digest"`
	// ExtraStores are http(s) signature store base URLs added with AddStore
	// as one parallel store, the way the CVO adds ClusterVersion
	// spec.signatureStores: they are searched before the payload's stores.
	ExtraStores []string `json:"extraStores,omitempty"`
	// SignatureConfigMaps are files of ConfigMaps (binaryData keys
	// sha256-<hex>-<n>) served to library-go's configmap store, which the
	// CVO adds last, so it is searched first. Only ConfigMaps in
	// openshift-config-managed labelled
	// release.openshift.io/verification-signatures are listed, as the
	// API server would for the store's List call.
	SignatureConfigMaps stringList `json:"signatureConfigMaps,omitempty"`
	// CAFile is a PEM bundle; when set it is the only trust anchor for
	// https stores (otherwise the system roots are used).
	CAFile string `json:"caFile,omitempty"`
	// TimeoutSeconds bounds Verify (default 60).
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

type caseResult struct {
	ID       string `json:"id"`
	Verified bool   `json:"verified"`
	// Error is Verify's err.Error() (the short form).
	Error string `json:"error,omitempty"`
	// Details is the error Verify wraps (the aggregate of every attempt,
	// each prefixed with a timestamp), when there is one.
	Details string `json:"details,omitempty"`
	// LoadError is set when no verifier could be built.
	LoadError string `json:"loadError,omitempty"`
	// NoVerifier: the manifests hold no annotated ConfigMap;
	// NewFromManifests returned (nil, nil) and, like the CVO, the harness
	// used verify.Reject.
	NoVerifier bool `json:"noVerifier,omitempty"`
	// Stage names the failing step: input, manifests, config, caFile,
	// extraStores, signatureConfigMaps, verify or panic.
	Stage string `json:"stage,omitempty"`
}

// stringList accepts a JSON string or an array of strings.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("expected a string or an array of strings")
	}
	*s = many
	return nil
}

func main() {
	showVersion := flag.Bool("version", false, "print the library-go version and exit")
	verbosity := flag.Int("v", 0, "klog verbosity on stderr (4 shows every signature attempt)")
	flag.Parse()

	if *showVersion {
		fmt.Printf("%s %s\n", modulePath, protocol.ModuleVersion(modulePath))
		return
	}

	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	_ = klogFlags.Set("logtostderr", "true")
	_ = klogFlags.Set("v", fmt.Sprint(*verbosity))

	var in batch
	if err := protocol.ReadBatch(os.Stdin, &in); err != nil {
		protocol.Fatal("librarygo-harness: %v", err)
	}
	out := protocol.NewLineWriter(os.Stdout)
	for _, c := range in.Cases {
		if err := out.Write(runCase(c)); err != nil {
			protocol.Fatal("librarygo-harness: writing result: %v", err)
		}
	}
	klog.Flush()
}

func runCase(c caseInput) (res caseResult) {
	res.ID = c.ID
	// One pathological input must not take the rest of the batch down.
	defer func() {
		if p := recover(); p != nil {
			res = caseResult{ID: c.ID, LoadError: fmt.Sprintf("panic: %v\n%s", p, debug.Stack()), Stage: "panic"}
		}
	}()
	loadFailure := func(stage string, err error) caseResult {
		return caseResult{ID: c.ID, LoadError: err.Error(), Stage: stage}
	}

	if len(c.Manifests) == 0 {
		return loadFailure("input", errors.New(`"manifests" is required`))
	}
	files, err := expandManifestPaths(c.Manifests)
	if err != nil {
		return loadFailure("manifests", err)
	}
	manifests, err := manifest.ManifestsFromFiles(files)
	if err != nil {
		return loadFailure("manifests", err)
	}

	clientFactory, err := newHTTPClientFactory(c.CAFile)
	if err != nil {
		return loadFailure("caFile", err)
	}
	// The CVO wraps its client builder in this rate-limited cache; keep the
	// same shape so stores see the same kind of client.
	httpClient := sigstore.NewCachedHTTPClientConstructor(clientFactory, nil).HTTPClient

	verifier, err := verify.NewFromManifests(manifests, httpClient)
	if err != nil {
		return loadFailure("config", err)
	}
	if verifier == nil {
		// What the CVO does when the payload has no verification ConfigMap.
		res.NoVerifier = true
		verifier = verify.Reject
	} else {
		// Same order of AddStore calls as the CVO's
		// loadConfigMapVerifierDataFromUpdate: the custom (ClusterVersion)
		// store first, then the ConfigMap store; AddStore prepends, so the
		// search order is ConfigMaps, extra stores, payload stores.
		if len(c.ExtraStores) > 0 {
			extra, err := extraStores(c.ExtraStores, httpClient)
			if err != nil {
				return loadFailure("extraStores", err)
			}
			verifier.AddStore(extra)
		}
		if len(c.SignatureConfigMaps) > 0 {
			getter, err := loadSignatureConfigMaps(c.SignatureConfigMaps)
			if err != nil {
				return loadFailure("signatureConfigMaps", err)
			}
			verifier.AddStore(configmap.NewStore(getter, nil))
		}
	}

	timeout := 60 * time.Second
	if c.TimeoutSeconds > 0 {
		timeout = time.Duration(c.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	if err := verifier.Verify(ctx, c.Digest); err != nil {
		res.Error = err.Error()
		res.Stage = "verify"
		if inner := errors.Unwrap(err); inner != nil {
			res.Details = inner.Error()
		}
		return res
	}
	res.Verified = true
	return res
}

// expandManifestPaths turns directories into their manifest files and checks
// that every file exists: library-go's ManifestsFromFiles dereferences a nil
// *os.File when a file cannot be opened, so a missing path would panic there.
func expandManifestPaths(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				if e.Type().IsRegular() {
					names = append(names, e.Name())
				}
			}
		}
		sort.Strings(names)
		for _, n := range names {
			files = append(files, filepath.Join(p, n))
		}
	}
	return files, nil
}

// newHTTPClientFactory returns a plain client: no proxy from the environment
// (stores in tests are loopback servers), system roots unless caFile is set.
func newHTTPClientFactory(caFile string) (sigstore.HTTPClient, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate found in %s", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Transport: transport}
	return func() (*http.Client, error) { return client, nil }, nil
}

// extraStores builds one parallel store of library-go sigstore (HTTP) stores,
// the shape of the CVO's ClusterVersion signature store. library-go's file://
// store is private to NewFromManifests, so a file:// URL here reaches
// sigstore.Store, which reports its scheme as unrecognized at Verify time.
func extraStores(urls []string, httpClient sigstore.HTTPClient) (store.Store, error) {
	stores := make([]store.Store, 0, len(urls))
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		stores = append(stores, &sigstore.Store{URI: u, HTTPClient: httpClient})
	}
	return &parallel.Store{Stores: stores}, nil
}

// configMapLister is the one call library-go's configmap store makes:
// ConfigMaps(ns).List with a label selector. Every other method of the
// embedded (nil) interface would panic, which is the point: if library-go
// starts calling something else, the harness must be revisited.
type configMapLister struct {
	corev1client.ConfigMapInterface
	namespace string
	items     []corev1.ConfigMap
}

func (l configMapLister) List(_ context.Context, opts metav1.ListOptions) (*corev1.ConfigMapList, error) {
	selector, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, err
	}
	list := &corev1.ConfigMapList{}
	for _, cm := range l.items {
		if cm.Namespace == l.namespace && selector.Matches(labels.Set(cm.Labels)) {
			list.Items = append(list.Items, cm)
		}
	}
	return list, nil
}

type configMapGetter struct {
	items []corev1.ConfigMap
}

func (g configMapGetter) ConfigMaps(namespace string) corev1client.ConfigMapInterface {
	return configMapLister{namespace: namespace, items: g.items}
}

func loadSignatureConfigMaps(paths []string) (corev1client.ConfigMapsGetter, error) {
	files, err := expandManifestPaths(paths)
	if err != nil {
		return nil, err
	}
	manifests, err := manifest.ManifestsFromFiles(files)
	if err != nil {
		return nil, err
	}
	var items []corev1.ConfigMap
	for _, m := range manifests {
		if m.GVK.Kind != "ConfigMap" {
			continue
		}
		var cm corev1.ConfigMap
		// m.Raw is JSON (the YAML decoder converts); binaryData is base64.
		if err := json.Unmarshal(m.Raw, &cm); err != nil {
			return nil, fmt.Errorf("%s: %w", m.String(), err)
		}
		items = append(items, cm)
	}
	return configMapGetter{items: items}, nil
}
