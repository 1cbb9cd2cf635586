#!/usr/bin/env bash
# Hand check of both harnesses against known verdicts, on loopback only.
#   interop/scripts/selfcheck.sh [BIN_DIR]
# BIN_DIR holds cimage-harness, librarygo-harness and ocipush; without it they
# are built into a temporary directory. Needs: go, docker-registry, openssl,
# python3, jq. Starts a docker-registry and a python http.server on free
# 127.0.0.1 ports and stops them (by pid) on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${FIXTURES:-$(cd "$here/../.." && pwd)/shared/fixtures/library-go}
work=$(mktemp -d /tmp/interop-selfcheck.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

bin=${1:-}
if [[ -z "$bin" ]]; then
	bin=$work/bin
	(cd "$here" && CGO_ENABLED=0 go build -trimpath -tags containers_image_openpgp,exclude_graphdriver_btrfs -o "$bin/" ./cmd/...)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 50); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

failures=0
# check OUTPUT_FILE ID JQ_EXPR: the result line for ID must satisfy JQ_EXPR.
check() {
	local line
	line=$(jq -c --arg id "$2" 'select(.id == $id)' "$1")
	if [[ -n "$line" ]] && jq -e "$3" <<<"$line" >/dev/null; then
		echo "PASS $2"
	else
		echo "FAIL $2: wanted $3, got ${line:-nothing}"
		failures=$((failures + 1))
	fi
}

echo "== library-go ($("$bin/librarygo-harness" --version))"
lg=$work/lg
mkdir -p "$lg/www/empty"
A=sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7
B=sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140
cp -r "$fixtures/signatures" "$lg/www/full"
http_port=$(free_port)
(cd "$lg/www" && exec python3 -m http.server "$http_port" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
wait_http "http://127.0.0.1:$http_port/"

# payload_cm NAME KEYRING STORE_URL: a verification ConfigMap like a payload's.
payload_cm() {
	{
		printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-verification\n  namespace: openshift-config-managed\n'
		printf '  annotations:\n    release.openshift.io/verification-config-map: ""\ndata:\n  store-x: %s\n  verifier-public-key-%s: |\n' "$3" "$2"
		sed 's/^/    /' "$fixtures/keyrings/$2.txt"
	} >"$lg/$1.yaml"
}
for k in redhat simple combined; do payload_cm "file-$k" "$k" "file://$fixtures/signatures"; done
payload_cm http-empty redhat "http://127.0.0.1:$http_port/empty"
hexA=${A#sha256:}
cat >"$lg/sigcm.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: sha256-$hexA
  namespace: openshift-config-managed
  labels:
    release.openshift.io/verification-signatures: ""
binaryData:
  sha256-$hexA-1: $(base64 -w0 "$fixtures/signatures/sha256=$hexA/signature-1")
EOF

cat >"$lg/in.json" <<EOF
{"cases":[
{"id":"redhat-A","manifests":"$lg/file-redhat.yaml","digest":"$A"},
{"id":"combined-A","manifests":"$lg/file-combined.yaml","digest":"$A"},
{"id":"simple-A","manifests":"$lg/file-simple.yaml","digest":"$A"},
{"id":"simple-B","manifests":"$lg/file-simple.yaml","digest":"$B"},
{"id":"redhat-B","manifests":"$lg/file-redhat.yaml","digest":"$B"},
{"id":"by-tag","manifests":"$lg/file-redhat.yaml","digest":""},
{"id":"loads-valid","manifests":"$fixtures/manifests/loads-valid.yaml","digest":"$A"},
{"id":"requires-data","manifests":"$fixtures/manifests/requires-data.yaml","digest":"$A"},
{"id":"requires-verifiers","manifests":"$fixtures/manifests/requires-verifiers.yaml","digest":"$A"},
{"id":"requires-stores","manifests":"$fixtures/manifests/requires-stores.yaml","digest":"$A"},
{"id":"http-empty","manifests":"$lg/http-empty.yaml","digest":"$A"},
{"id":"extra-store","manifests":"$lg/http-empty.yaml","digest":"$A","extraStores":["http://127.0.0.1:$http_port/full"]},
{"id":"signature-configmap","manifests":"$lg/http-empty.yaml","digest":"$A","signatureConfigMaps":"$lg/sigcm.yaml"},
{"id":"no-verifier","manifests":"$lg/sigcm.yaml","digest":"$A"}
]}
EOF
"$bin/librarygo-harness" <"$lg/in.json" >"$lg/out.jsonl"
o=$lg/out.jsonl
check "$o" redhat-A '.verified == true'
check "$o" combined-A '.verified == true'
check "$o" simple-A '.verified == false and (.error | startswith("unable to verify '"$A"' against keyrings: verifier-public-key-simple"))'
check "$o" simple-B '.verified == true'
check "$o" redhat-B '.verified == false'
check "$o" by-tag '.error == "release images that are not accessed via digest cannot be verified"'
check "$o" loads-valid '.loadError == null and .verified == false'
check "$o" requires-data '.loadError | endswith("did not provide any signature stores to read from and cannot be used")'
check "$o" requires-verifiers '.loadError | endswith("did not provide any signature stores to read from and cannot be used")'
check "$o" requires-stores '.stage == "manifests" and (.loadError | contains("invalid Yaml document separator"))'
check "$o" http-empty '.verified == false'
check "$o" extra-store '.verified == true'
check "$o" signature-configmap '.verified == true'
check "$o" no-verifier '.noVerifier == true and .error == "verification is not possible"'

echo "== containers/image ($("$bin/cimage-harness" --version))"
ci=$work/ci
mkdir -p "$ci/storage" "$ci/regd" "$ci/regd-empty"
reg_port=$(free_port)
R=127.0.0.1:$reg_port
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$ci/storage" "$R" >"$ci/registry.yml"
docker-registry serve "$ci/registry.yml" >"$ci/registry.log" 2>&1 &
pids+=($!)
wait_http "http://$R/v2/"
push() { "$bin/ocipush" -registry "$R" -repo ns/app "$@"; }
unsigned=$(push -tag unsigned -content unsigned | jq -r .image)
signed=$(push -tag signed -content signed -sign "$ci/key.pem" | jq -r .image)
bydigest=$(push -tag bydigest -content bydigest | jq -r .image)
push -digest "${bydigest#*@}" -sign "$ci/key.pem" -identity "$bydigest" >/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$ci/other.pem" 2>/dev/null
openssl ec -in "$ci/other.pem" -pubout -out "$ci/other.pub" 2>/dev/null
printf 'docker:\n  %s/ns:\n    use-sigstore-attachments: true\n' "$R" >"$ci/regd/sigstore.yaml"

# policy NAME REQUIREMENT: reject by default, REQUIREMENT for $R/ns/app.
policy() { printf '{"default":[{"type":"reject"}],"transports":{"docker":{"%s/ns/app":[%s]}}}\n' "$R" "$2" >"$ci/$1.json"; }
key=$(base64 -w0 "$ci/key.pem.pub")
other=$(base64 -w0 "$ci/other.pub")
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$ci/accept.json"
policy other-key '{"type":"sigstoreSigned","keyData":"'"$other"'","signedIdentity":{"type":"matchRepository"}}'
policy key-repo '{"type":"sigstoreSigned","keyData":"'"$key"'","signedIdentity":{"type":"matchRepository"}}'
policy key-default '{"type":"sigstoreSigned","keyPath":"'"$ci/key.pem.pub"'"}'
policy unknown-field '{"type":"sigstoreSigned","keyData":"'"$key"'","bogus":true}'
c() { printf '{"id":"%s","policy":"%s/%s.json","registriesDir":"%s/%s","image":"%s","insecure":true}' "$1" "$ci" "$2" "$ci" "$3" "$4"; }
{
	echo '{"cases":['
	paste -sd, <<EOF
$(c accept-unsigned accept regd "$unsigned")
$(c other-key-unsigned other-key regd "$unsigned")
$(c other-key-signed other-key regd "$signed")
$(c key-signed key-repo regd "$signed")
$(c key-signed-attachments-off key-repo regd-empty "$signed")
$(c key-default-name-only-identity key-default regd "$signed")
$(c key-default-digest-identity key-default regd "$bydigest")
$(c unknown-field unknown-field regd "$signed")
$(c missing-image key-repo regd "$R/ns/app@sha256:0000000000000000000000000000000000000000000000000000000000000000")
EOF
	echo ']}'
} >"$ci/in.json"
"$bin/cimage-harness" <"$ci/in.json" >"$ci/out.jsonl"
o=$ci/out.jsonl
check "$o" accept-unsigned '.allowed == true'
check "$o" other-key-unsigned '.allowed == false and .error == "A signature was required, but no signature exists"'
check "$o" other-key-signed '.allowed == false and (.error | startswith("cryptographic signature verification failed"))'
check "$o" key-signed '.allowed == true'
check "$o" key-signed-attachments-off '.allowed == false and .error == "A signature was required, but no signature exists"'
check "$o" key-default-name-only-identity '.allowed == false and (.error | test("^Signature for identity .* is not accepted$"))'
check "$o" key-default-digest-identity '.allowed == true'
check "$o" unknown-field '.setupError == true and .stage == "policy" and (.error | contains("Unknown key \"bogus\""))'
check "$o" missing-image '.setupError == true and .stage == "source" and (.error | contains("manifest unknown"))'

if ((failures > 0)); then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"
