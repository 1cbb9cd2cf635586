// Command ocipush is a small, standard-library-only helper for checking the
// harnesses by hand: it pushes a tiny OCI image to a plain-HTTP registry and,
// optionally, a legacy cosign signature for it (tag sha256-<hex>.sig, one
// simplesigning layer, ECDSA P-256 signature in the
// dev.cosignproject.cosign/signature annotation). It is not a judge and does
// not try to be a complete cosign; use real cosign for anything beyond that.
//
//	ocipush -registry 127.0.0.1:5000 -repo ns/app [-tag v1] [-content X] [-sign key.pem] [-identity REF]
//	ocipush -registry 127.0.0.1:5000 -repo ns/app -digest sha256:… -sign key.pem
//	        [-cert leaf.pem] [-chain chain.pem] [-sig-encoding std|std-nl|rawstd|url]
//
// A missing -sign key file is generated (key.pem, key.pem.pub). Pushing a
// signature replaces any earlier one for that digest (one layer per tag). One
// JSON line describing what was pushed is written to stdout.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

const (
	ociManifestType        = "application/vnd.oci.image.manifest.v1+json"
	ociConfigType          = "application/vnd.oci.image.config.v1+json"
	ociLayerType           = "application/vnd.oci.image.layer.v1.tar"
	simpleSigningType      = "application/vnd.dev.cosign.simplesigning.v1+json"
	cosignSignatureAnnot   = "dev.cosignproject.cosign/signature"
	cosignCertificateAnnot = "dev.sigstore.cosign/certificate"
	cosignChainAnnot       = "dev.sigstore.cosign/chain"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ociManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type output struct {
	Image        string `json:"image,omitempty"`
	Digest       string `json:"digest"`
	SignatureTag string `json:"signatureTag,omitempty"`
	Identity     string `json:"identity,omitempty"`
	PublicKey    string `json:"publicKey,omitempty"`
}

func main() {
	registry := flag.String("registry", "127.0.0.1:5000", "registry host:port (plain HTTP)")
	repo := flag.String("repo", "ns/app", "repository path")
	tag := flag.String("tag", "latest", "tag for the pushed image")
	content := flag.String("content", "hello", "bytes of the single layer (vary it for distinct digests)")
	existing := flag.String("digest", "", "sign this existing manifest digest instead of pushing an image")
	keyFile := flag.String("sign", "", "PEM EC private key to sign with (generated if missing)")
	identity := flag.String("identity", "", `docker-reference to sign (default "<registry>/<repo>")`)
	certFile := flag.String("cert", "", "PEM file put verbatim in the dev.sigstore.cosign/certificate annotation")
	chainFile := flag.String("chain", "", "PEM file put verbatim in the dev.sigstore.cosign/chain annotation")
	sigEncoding := flag.String("sig-encoding", "std", "signature annotation encoding: std, std-nl (std + \\n), rawstd (no padding), url (URL alphabet)")
	flag.Parse()

	opts := signOptions{keyFile: *keyFile, identity: *identity, certFile: *certFile, chainFile: *chainFile, sigEncoding: *sigEncoding}
	if err := run(*registry, *repo, *tag, *content, *existing, opts); err != nil {
		fmt.Fprintln(os.Stderr, "ocipush:", err)
		os.Exit(1)
	}
}

type signOptions struct {
	keyFile, identity, certFile, chainFile, sigEncoding string
}

func run(registry, repo, tag, content, existing string, opts signOptions) error {
	keyFile, identity := opts.keyFile, opts.identity
	base := "http://" + registry + "/v2/" + repo
	out := output{Digest: existing}
	if existing == "" {
		config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`)
		layer := []byte(content)
		d, err := pushImage(base, tag, config, ociConfigType, layer, ociLayerType, nil)
		if err != nil {
			return err
		}
		out.Digest = d
		out.Image = registry + "/" + repo + "@" + d
	}
	if keyFile != "" {
		key, err := loadOrCreateKey(keyFile)
		if err != nil {
			return err
		}
		if identity == "" {
			identity = registry + "/" + repo
		}
		hexPart, ok := strings.CutPrefix(out.Digest, "sha256:")
		if !ok {
			return fmt.Errorf("digest %q is not sha256", out.Digest)
		}
		payload, err := json.Marshal(map[string]any{
			"critical": map[string]any{
				"identity": map[string]string{"docker-reference": identity},
				"image":    map[string]string{"docker-manifest-digest": out.Digest},
				"type":     "cosign container image signature",
			},
			"optional": nil,
		})
		if err != nil {
			return err
		}
		sum := sha256.Sum256(payload)
		sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
		if err != nil {
			return err
		}
		encoded, err := encodeSignature(sig, opts.sigEncoding)
		if err != nil {
			return err
		}
		annotations := map[string]string{cosignSignatureAnnot: encoded}
		for annotation, file := range map[string]string{cosignCertificateAnnot: opts.certFile, cosignChainAnnot: opts.chainFile} {
			if file == "" {
				continue
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			annotations[annotation] = string(b)
		}
		sigTag := "sha256-" + hexPart + ".sig"
		if _, err := pushImage(base, sigTag, []byte("{}"), ociConfigType, payload, simpleSigningType, annotations); err != nil {
			return err
		}
		out.SignatureTag = sigTag
		out.Identity = identity
		out.PublicKey = keyFile + ".pub"
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// pushImage uploads the config and one layer, then the manifest under tag,
// and returns the manifest digest.
func pushImage(base, tag string, config []byte, configType string, layer []byte, layerType string, layerAnnotations map[string]string) (string, error) {
	configDesc, err := pushBlob(base, config, configType)
	if err != nil {
		return "", err
	}
	layerDesc, err := pushBlob(base, layer, layerType)
	if err != nil {
		return "", err
	}
	layerDesc.Annotations = layerAnnotations
	m, err := json.Marshal(ociManifest{SchemaVersion: 2, MediaType: ociManifestType, Config: configDesc, Layers: []descriptor{layerDesc}})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodPut, base+"/manifests/"+tag, bytes.NewReader(m))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", ociManifestType)
	if err := expect(http.DefaultClient.Do(req)); err != nil {
		return "", fmt.Errorf("pushing manifest %s: %w", tag, err)
	}
	return digestOf(m), nil
}

func pushBlob(base string, blob []byte, mediaType string) (descriptor, error) {
	d := digestOf(blob)
	resp, err := http.Post(base+"/blobs/uploads/", "application/octet-stream", nil)
	if err != nil {
		return descriptor{}, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return descriptor{}, fmt.Errorf("starting blob upload: %s", resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return descriptor{}, err
	}
	q := loc.Query()
	q.Set("digest", d)
	loc.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(blob))
	if err != nil {
		return descriptor{}, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if err := expect(http.DefaultClient.Do(req)); err != nil {
		return descriptor{}, fmt.Errorf("uploading blob %s: %w", d, err)
	}
	return descriptor{MediaType: mediaType, Digest: d, Size: len(blob)}, nil
}

func expect(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

// encodeSignature writes the signature in one of a few base64 variants, to
// probe how strictly a verifier decodes the annotation.
func encodeSignature(sig []byte, variant string) (string, error) {
	switch variant {
	case "std":
		return base64.StdEncoding.EncodeToString(sig), nil
	case "std-nl":
		return base64.StdEncoding.EncodeToString(sig) + "\n", nil
	case "rawstd":
		return base64.RawStdEncoding.EncodeToString(sig), nil
	case "url":
		return base64.URLEncoding.EncodeToString(sig), nil
	}
	return "", fmt.Errorf("unknown -sig-encoding %q", variant)
}

func digestOf(b []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// loadOrCreateKey reads an EC private key (SEC 1 or PKCS#8 PEM), generating a
// P-256 one if the file does not exist, and (re)writes path+".pub".
func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	var k *ecdsa.PrivateKey
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		block, _ := pem.Decode(raw)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", path)
		}
		if k, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			parsed, err2 := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err2 != nil {
				return nil, fmt.Errorf("%s: %v / %v", path, err, err2)
			}
			ec, ok := parsed.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%s: not an ECDSA key", path)
			}
			k = ec
		}
	case errors.Is(err, os.ErrNotExist):
		if k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	pub, err := publicPEM(k)
	if err != nil {
		return nil, err
	}
	return k, os.WriteFile(path+".pub", pub, 0o644)
}

func publicPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
