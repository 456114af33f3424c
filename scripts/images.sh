#!/usr/bin/env bash
# The project's container images, built with podman from the Dockerfile, offline-capable.
#
#   scripts/images.sh [build] [NAME...]   build (default: every image whose inputs exist)
#   scripts/images.sh base                only the offline Debian base (mmdebstrap), cached by recipe
#   scripts/images.sh save NAME [FILE]    `podman save` of an image (docker-archive) to FILE or stdout,
#                                         e.g. scripts/images.sh save spark | ctr -n k8s.io images import -
#   scripts/images.sh ref NAME            the image's full name (localhost/dataplatform-NAME:dev)
#   scripts/images.sh list                the project's images and their sizes
#   scripts/images.sh run OPTS... IMAGE [ARGS...]
#                                         podman run --rm with the options these machines need
#   scripts/images.sh podman ARGS...      any podman command on the project's image storage
#
# NAME: spark api operator minio ferretdb pause (or a full image reference for save).
# Sourcing this file (`. scripts/images.sh`) defines the same podman() function and runs nothing,
# so other scripts share one image storage and one runtime setup:
#   - storage under ~/.cache/dataplatform/containers/storage, so a later run reuses every layer;
#   - runc (crun fails on this machine's hybrid cgroups) and lower ulimits for containers
#     (runc's setrlimit is refused for the default ones);
#   - host networking for builds and runs (no CNI setup needed).
# The offline base: Debian bookworm from deb.debian.org (mmdebstrap, minbase), with Python 3.11
# (bookworm's own), `python` -> python3, venv, CA certificates and tzdata; tagged with the hash of
# its recipe, so it is made once (IMAGES_REFRESH_BASE=1 makes it again, e.g. for security updates).
# The public bases instead, with podman or docker:
#   podman build --target spark --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm -t dataplatform-spark .
if [ "${BASH_SOURCE[0]}" = "$0" ]; then set -euo pipefail; fi

IMAGES_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATAPLATFORM_CACHE="${DATAPLATFORM_CACHE:-$HOME/.cache/dataplatform}"
PODMAN_ROOT="${PODMAN_ROOT:-$DATAPLATFORM_CACHE/containers/storage}"
PODMAN_RUNROOT="${PODMAN_RUNROOT:-/run/dataplatform-containers}"
PODMAN_TMPDIR="${PODMAN_TMPDIR:-$DATAPLATFORM_CACHE/containers/tmp}"
IMAGES_LOG_DIR="$DATAPLATFORM_CACHE/containers/logs"
IMAGE_TAG="${IMAGE_TAG:-dev}"
IMAGE_PREFIX="${IMAGE_PREFIX:-localhost/dataplatform-}"
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
IMAGES_CA_BUNDLE="${IMAGES_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
SERVER_BIN="$DATAPLATFORM_CACHE/bin"
K8S_BIN="$DATAPLATFORM_CACHE/k8s/$K8S_VERSION/bin"
# Options every `podman run` of the project needs on these machines (see the header).
PODMAN_RUN_OPTS=(--network host --ulimit nofile=20000:20000 --ulimit nproc=4096:4096)

# podman on the project's storage; TMPDIR keeps build scratch (and RUN cache mounts) under ~/.cache.
podman() {
  mkdir -p "$PODMAN_ROOT" "$PODMAN_TMPDIR"
  TMPDIR="$PODMAN_TMPDIR" command podman --root "$PODMAN_ROOT" --runroot "$PODMAN_RUNROOT" \
    --storage-driver overlay --runtime runc --events-backend file --cgroup-manager cgroupfs "$@"
}

images_fail() { echo "images: $*" >&2; exit 1; }

image_ref() {  # NAME or a full reference
  case "$1" in */* | *:*) echo "$1" ;; *) echo "$IMAGE_PREFIX$1:$IMAGE_TAG" ;; esac
}

# ---------------------------------------------------------------------------------------------
# The offline base: what python:3.11-slim-bookworm gives, made from Debian packages.
# ---------------------------------------------------------------------------------------------
BASE_SUITE=bookworm
BASE_PACKAGES=ca-certificates,tzdata,passwd,python3,python3-venv,python-is-python3
BASE_MIRRORS=(
  "deb http://deb.debian.org/debian $BASE_SUITE main"
  "deb http://deb.debian.org/debian $BASE_SUITE-updates main"
  "deb http://deb.debian.org/debian-security $BASE_SUITE-security main"
)
# Leave out documentation, man pages and translations, as Debian's slim images do.
BASE_DPKG_OPTS=(
  "path-exclude=/usr/share/doc/*" "path-include=/usr/share/doc/*/copyright"
  "path-exclude=/usr/share/man/*" "path-exclude=/usr/share/info/*"
  "path-exclude=/usr/share/locale/*" "path-include=/usr/share/locale/locale.alias"
)
BASE_CHANGES=(
  "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  "ENV LANG=C.UTF-8"
  'CMD ["python3"]'
)

base_ref() {
  local recipe
  recipe="$(printf '%s\n' 1 "$BASE_SUITE" "$BASE_PACKAGES" "${BASE_MIRRORS[@]}" "${BASE_DPKG_OPTS[@]}" \
    "${BASE_CHANGES[@]}" | sha256sum | cut -c1-12)"
  echo "${IMAGE_PREFIX}base:$BASE_SUITE-$recipe"
}

build_base() {
  local ref tar dpkg_args=() change_args=() opt
  ref="$(base_ref)"
  if [ -z "${IMAGES_REFRESH_BASE:-}" ] && podman image exists "$ref"; then
    echo "base $ref ready (same recipe)" >&2
    return 0
  fi
  command -v mmdebstrap >/dev/null || images_fail "mmdebstrap not found: apt-get install mmdebstrap (or build with --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm)"
  for opt in "${BASE_DPKG_OPTS[@]}"; do dpkg_args+=(--dpkgopt="$opt"); done
  for opt in "${BASE_CHANGES[@]}"; do change_args+=(--change "$opt"); done
  tar="$PODMAN_TMPDIR/base-$$.tar"
  echo "making $ref with mmdebstrap ($BASE_SUITE, $BASE_PACKAGES)" >&2
  mmdebstrap --quiet --variant=minbase --include="$BASE_PACKAGES" --aptopt='Acquire::Retries "3"' \
    "${dpkg_args[@]}" "$BASE_SUITE" "$tar" "${BASE_MIRRORS[@]}" \
    || { rm -f "$tar"; images_fail "mmdebstrap could not make the $BASE_SUITE base (is deb.debian.org reachable?)"; }
  podman import --quiet "${change_args[@]}" "$tar" "$ref" >/dev/null || { rm -f "$tar"; images_fail "podman import of the base failed"; }
  rm -f "$tar"
}

# ---------------------------------------------------------------------------------------------
# The images of the Dockerfile.
# ---------------------------------------------------------------------------------------------
ALL_IMAGES=(spark api operator minio ferretdb pause)

# The binary a target copies from a named build context, if any: "context-dir file".
binary_of() {
  case "$1" in
    operator) echo "$K8S_BIN spark-operator" ;;
    pause) echo "$K8S_BIN pause" ;;
    minio) echo "$SERVER_BIN minio" ;;
    ferretdb) echo "$SERVER_BIN ferretdb" ;;
    *) echo "" ;;
  esac
}

build_image() {  # NAME base-ref git-sha
  local name=$1 base=$2 sha=$3 started=$SECONDS context=() bin log
  read -r -a bin <<<"$(binary_of "$name")"
  if [ ${#bin[@]} -eq 2 ]; then
    [ -x "${bin[0]}/${bin[1]}" ] || images_fail "${bin[0]}/${bin[1]} missing: run make setup (minio, ferretdb) or scripts/build_k8s.sh (spark-operator, pause)"
    context=(--build-context "bins=${bin[0]}")
  fi
  if [ "$name" = api ] && ! compgen -G "$IMAGES_HERE/api/static/vendor/*" >/dev/null; then
    images_fail "api/static/vendor is empty (the dashboard's chart library): run make setup"
  fi
  # pip inside the build trusts the host's CA bundle (a TLS-inspecting proxy's CA, if any);
  # a build secret, so it is in no layer.
  if [ -s "$IMAGES_CA_BUNDLE" ]; then context+=(--secret "id=ca-certificates,src=$IMAGES_CA_BUNDLE"); fi
  mkdir -p "$IMAGES_LOG_DIR"; log="$IMAGES_LOG_DIR/build-$name.log"
  echo "building $(image_ref "$name") (target $name, log in $log)" >&2
  if ! podman build --runtime runc "${PODMAN_RUN_OPTS[@]}" --layers --format docker \
    --target "$name" --tag "$(image_ref "$name")" \
    --build-arg "PYTHON_IMAGE=$base" --build-arg "GIT_SHA=$sha" "${context[@]}" \
    --file "$IMAGES_HERE/Dockerfile" "$IMAGES_HERE" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    images_fail "podman build --target $name failed (the end of $log above)"
  fi
  echo "built $(image_ref "$name") in $((SECONDS - started)) s" >&2
}

build() {
  local names=("$@") base sha name bin
  command -v podman >/dev/null || images_fail "podman not found: apt-get install podman runc"
  command -v runc >/dev/null || images_fail "runc not found: apt-get install runc"
  compgen -G "$IMAGES_HERE/jars/*.jar" >/dev/null || images_fail "jars/ is empty: run make setup"
  if [ ${#names[@]} -eq 0 ]; then
    for name in "${ALL_IMAGES[@]}"; do
      read -r -a bin <<<"$(binary_of "$name")"
      if [ ${#bin[@]} -eq 2 ] && [ ! -x "${bin[0]}/${bin[1]}" ]; then
        echo "skipping $name: ${bin[0]}/${bin[1]} not built yet" >&2
        continue
      fi
      names+=("$name")
    done
  fi
  build_base
  base="$(base_ref)"
  sha="$(git -C "$IMAGES_HERE" describe --always --dirty 2>/dev/null || echo unknown)"
  for name in "${names[@]}"; do
    case " ${ALL_IMAGES[*]} " in *" $name "*) ;; *) images_fail "unknown image $name (one of: ${ALL_IMAGES[*]})" ;; esac
    build_image "$name" "$base" "$sha"
  done
  # Each commit rebuilds the images (GIT_SHA): the versions they replaced, untagged now, go, or
  # the store grows by gigabytes a week. Tagged images and the layers of the current ones stay.
  podman image prune --force >/dev/null || echo "images: pruning the replaced images failed (disk space only)" >&2
  list
}

list() {
  podman images --filter "reference=${IMAGE_PREFIX}*" --format '{{.Repository}}:{{.Tag}}  {{.Size}}'
}

save() {  # NAME [FILE]
  [ $# -ge 1 ] || images_fail "usage: scripts/images.sh save NAME [FILE]"
  local ref
  ref="$(image_ref "$1")"
  podman image exists "$ref" || images_fail "$ref not built: run make images"
  if [ $# -ge 2 ] && [ "$2" != "-" ]; then
    podman save --quiet --format docker-archive --output "$2" "$ref"
  else
    [ -t 1 ] && images_fail "refusing to write an image archive to a terminal: pipe it or give a FILE"
    podman save --quiet --format docker-archive "$ref"  # podman writes to stdout when it is no terminal
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cmd="${1:-build}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    build) build "$@" ;;
    base) command -v podman >/dev/null || images_fail "podman not found: apt-get install podman runc"; build_base; base_ref ;;
    save) save "$@" ;;
    ref) image_ref "${1:?usage: scripts/images.sh ref NAME}" ;;
    list) list ;;
    podman) podman "$@" ;;
    run) command -v podman >/dev/null || images_fail "podman not found: apt-get install podman runc"; podman run --rm "${PODMAN_RUN_OPTS[@]}" "$@" ;;
    spark | api | operator | minio | ferretdb | pause) build "$cmd" "$@" ;;
    -h | --help | help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
    *) images_fail "unknown command $cmd (build, base, save, ref, list, run, podman)" ;;
  esac
fi
