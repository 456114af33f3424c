#!/usr/bin/env bash
# The Debian packages the images and the local Kubernetes cluster need (podman and mmdebstrap for
# `make images`; containerd, runc, the CNI plugins and iptables for scripts/k8s.sh), installed
# when missing and root; otherwise one line saying what to install.
set -euo pipefail
need=(podman:podman runc:runc mmdebstrap:mmdebstrap containerd:containerd ctr:containerd
      iptables:iptables /usr/lib/cni/bridge:containernetworking-plugins)
missing=()
for pair in "${need[@]}"; do
  what="${pair%%:*}" pkg="${pair#*:}"
  if [ "${what:0:1}" = / ]; then [ -x "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
  [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } \
    || { echo "k8s_packages: apt-get could not install ${missing[*]}" >&2; exit 1; }
  echo "installed ${missing[*]}"
else
  echo "k8s_packages: install ${missing[*]} (Debian: apt-get install ${missing[*]}), as root" >&2
  exit 1
fi
