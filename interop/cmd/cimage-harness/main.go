// Command cimage-harness asks containers/image (go.podman.io/image/v5) whether
// an image in a registry is allowed by a signature policy, the way CRI-O and
// podman decide a pull: signature.PolicyContext.IsRunningImageAllowed on an
// UnparsedImage read through the docker transport. It is a reference judge
// for differential tests; see ../../README.md for the protocol.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
	imageversion "go.podman.io/image/v5/version"

	"cvo-update-verifier/interop/internal/protocol"
)

const modulePath = "go.podman.io/image/v5"

type batch struct {
	Cases []caseInput `json:"cases"`
}

type caseInput struct {
	ID string `json:"id"`
	// Policy is a policy.json path, read with signature.NewPolicyFromFile.
	Policy string `json:"policy"`
	// RegistriesDir is a registries.d directory (use-sigstore-attachments,
	// lookaside). Empty means none: the sandbox's empty default is used.
	RegistriesDir string `json:"registriesDir"`
	// Image is host[:port]/repo@sha256:… or :tag, optionally with docker://.
	Image string `json:"image"`
	// Insecure allows plain HTTP / unverified TLS to the registry.
	Insecure bool `json:"insecure"`
	// RegistriesConf optionally names a registries.conf (mirrors); by
	// default an empty one is used so the host's is never read.
	RegistriesConf string `json:"registriesConf,omitempty"`
	// TimeoutSeconds bounds the whole case (default 60).
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

type caseResult struct {
	ID      string `json:"id"`
	Allowed bool   `json:"allowed"`
	Error   string `json:"error,omitempty"`
	// SetupError is set when the case failed before the policy was
	// evaluated (policy file refused, bad reference, image unreadable…).
	SetupError bool `json:"setupError,omitempty"`
	// Stage names the step that failed: input, policy, policyContext,
	// reference, source, evaluate or panic.
	Stage string `json:"stage,omitempty"`
}

func main() {
	showVersion := flag.Bool("version", false, "print the containers/image version and exit")
	debugLog := flag.Bool("debug", false, "containers/image debug logging on stderr (shows registries.d and sigstore attachment lookups)")
	flag.Parse()

	if *showVersion {
		fmt.Printf("%s %s (version.Version %s)\n", modulePath, protocol.ModuleVersion(modulePath), imageversion.Version)
		return
	}

	// containers/image logs through logrus; stdout is reserved for results.
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.WarnLevel)
	if *debugLog {
		logrus.SetLevel(logrus.DebugLevel)
	}

	var in batch
	if err := protocol.ReadBatch(os.Stdin, &in); err != nil {
		protocol.Fatal("cimage-harness: %v", err)
	}
	if err := run(in); err != nil {
		protocol.Fatal("cimage-harness: %v", err)
	}
}

func run(in batch) error {
	sb, err := newSandbox()
	if err != nil {
		return err
	}
	defer os.RemoveAll(sb.dir)
	warnAboutHostLookaside()

	out := protocol.NewLineWriter(os.Stdout)
	for _, c := range in.Cases {
		if err := out.Write(runCase(sb, c)); err != nil {
			return fmt.Errorf("writing result: %w", err)
		}
	}
	return nil
}

// sandbox is a private, empty stand-in for every host configuration location
// containers/image would otherwise consult (/etc/containers/registries.conf
// and registries.conf.d, registries.d, certs.d, auth files, $HOME/.config,
// $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json …). A judge
// whose verdict depends on the machine it runs on is useless.
type sandbox struct {
	dir             string
	root            string // RootForImplicitAbsolutePaths: /etc/... resolves under it
	registriesConf  string // empty registries.conf
	registriesConfD string
	registriesD     string
	certsD          string
	blobCache       string
	authFile        string
}

func newSandbox() (*sandbox, error) {
	dir, err := os.MkdirTemp("", "cimage-harness-")
	if err != nil {
		return nil, err
	}
	sb := &sandbox{
		dir:             dir,
		root:            filepath.Join(dir, "root"),
		registriesConf:  filepath.Join(dir, "registries.conf"),
		registriesConfD: filepath.Join(dir, "registries.conf.d"),
		registriesD:     filepath.Join(dir, "registries.d"),
		certsD:          filepath.Join(dir, "certs.d"),
		blobCache:       filepath.Join(dir, "blob-info-cache"),
		authFile:        filepath.Join(dir, "auth.json"),
	}
	home := filepath.Join(dir, "home")
	for _, d := range []string{sb.root, sb.registriesConfD, sb.registriesD, sb.certsD, sb.blobCache, home,
		filepath.Join(home, ".config"), filepath.Join(home, ".cache"), filepath.Join(home, ".local", "share"),
		filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(sb.registriesConf, nil, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(sb.authFile, []byte("{}\n"), 0o600); err != nil {
		return nil, err
	}
	// Some lookups are not covered by SystemContext fields but by the
	// environment (user config dirs, env overrides of config paths); point
	// them into the sandbox too. Done before any containers/image call.
	for k, v := range map[string]string{
		"HOME":            home,
		"XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":  filepath.Join(home, ".cache"),
		"XDG_DATA_HOME":   filepath.Join(home, ".local", "share"),
		"XDG_RUNTIME_DIR": filepath.Join(dir, "run"),
	} {
		if err := os.Setenv(k, v); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"CONTAINERS_REGISTRIES_CONF", "CONTAINERS_REGISTRIES_CONF_OVERRIDE", "REGISTRIES_CONFIG_PATH",
		"CONTAINERS_POLICY_JSON", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "GNUPGHOME"} {
		os.Unsetenv(k)
	}
	return sb, nil
}

// warnAboutHostLookaside: with no "lookaside" configured for a scope,
// containers/image reads simple-signing signatures from a built-in default,
// /var/lib/containers/sigstore when running as root, and that path is not
// moved by RootForImplicitAbsolutePaths. It only matters if the directory
// exists (its signatures would be counted as "non-sigstore signatures" in
// messages, or judged by signedBy requirements), so say so rather than
// rewrite the caller's registries.d.
func warnAboutHostLookaside() {
	const hostLookaside = "/var/lib/containers/sigstore"
	if os.Geteuid() == 0 {
		if _, err := os.Stat(hostLookaside); err == nil {
			fmt.Fprintf(os.Stderr, "cimage-harness: warning: %s exists on this host and is the default lookaside for scopes without one\n", hostLookaside)
		}
	}
}

func (sb *sandbox) systemContext(c caseInput) *types.SystemContext {
	sys := &types.SystemContext{
		RootForImplicitAbsolutePaths: sb.root,
		RegistriesDirPath:            sb.registriesD,
		SystemRegistriesConfPath:     sb.registriesConf,
		SystemRegistriesConfDirPath:  sb.registriesConfD,
		AuthFilePath:                 sb.authFile,
		// A non-nil DockerAuthConfig short-circuits every credential lookup
		// (auth files, credential helpers): anonymous access only.
		DockerAuthConfig:         &types.DockerAuthConfig{},
		DockerPerHostCertDirPath: sb.certsD,
		BlobInfoCacheDir:         sb.blobCache,
		BigFilesTemporaryDir:     sb.dir,
		DockerRegistryUserAgent:  "cimage-harness (" + modulePath + " " + imageversion.Version + ")",
	}
	if c.RegistriesDir != "" {
		sys.RegistriesDirPath = c.RegistriesDir
	}
	if c.RegistriesConf != "" {
		sys.SystemRegistriesConfPath = c.RegistriesConf
	}
	if c.Insecure {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	return sys
}

func runCase(sb *sandbox, c caseInput) (res caseResult) {
	res.ID = c.ID
	// One pathological input must not take the rest of the batch down.
	defer func() {
		if p := recover(); p != nil {
			res = caseResult{ID: c.ID, Error: fmt.Sprintf("panic: %v\n%s", p, debug.Stack()), Stage: "panic"}
		}
	}()
	setupFailure := func(stage string, err error) caseResult {
		return caseResult{ID: c.ID, Error: err.Error(), SetupError: true, Stage: stage}
	}

	if c.Policy == "" || c.Image == "" {
		return setupFailure("input", errors.New(`"policy" and "image" are required`))
	}
	timeout := 60 * time.Second
	if c.TimeoutSeconds > 0 {
		timeout = time.Duration(c.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	policy, err := signature.NewPolicyFromFile(c.Policy)
	if err != nil {
		return setupFailure("policy", err)
	}
	pc, err := signature.NewPolicyContext(policy)
	if err != nil {
		return setupFailure("policyContext", err)
	}
	defer pc.Destroy()

	// The docker transport's own syntax is "//host/repo…"; accept the
	// transport-qualified form too.
	ref, err := docker.ParseReference("//" + strings.TrimPrefix(c.Image, "docker://"))
	if err != nil {
		return setupFailure("reference", err)
	}
	// NewImageSource resolves mirrors (registries.conf), reads registries.d
	// for this reference (use-sigstore-attachments) and fetches the manifest.
	src, err := ref.NewImageSource(ctx, sb.systemContext(c))
	if err != nil {
		return setupFailure("source", err)
	}
	defer src.Close()

	allowed, err := pc.IsRunningImageAllowed(ctx, image.UnparsedInstance(src, nil))
	res.Allowed = allowed && err == nil
	if err != nil {
		res.Error = err.Error()
		res.Stage = "evaluate"
	} else if !allowed {
		res.Error = "(refused without an error)"
		res.Stage = "evaluate"
	}
	return res
}
