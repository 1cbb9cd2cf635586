#!/usr/bin/env bash
# Source this file with the commands the caller needs; it installs the Debian packages that
# provide any that are missing (apt-get update first, as a fresh machine needs).
#   source scripts/ensure-packages.sh gpg:gnupg gpg-agent:gpg-agent go:golang-go
_cvo_need=()
for _cvo_pair in "$@"; do
  command -v "${_cvo_pair%%:*}" >/dev/null 2>&1 || _cvo_need+=("${_cvo_pair#*:}")
done
if [ ${#_cvo_need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${_cvo_need[*]}" >&2
  _cvo_sudo=""; [ "$(id -u)" -eq 0 ] || _cvo_sudo="sudo"
  $_cvo_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $_cvo_sudo apt-get install -y -qq "${_cvo_need[@]}" >/dev/null
fi
unset _cvo_need _cvo_pair _cvo_sudo
# An older Go fetches the toolchain control-plane/go.mod names (go 1.26) from the Go module proxy.
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
