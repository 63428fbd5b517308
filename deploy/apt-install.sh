#!/usr/bin/env bash
# Installs the Debian packages a test needs, when they are missing:
#
#   deploy/apt-install.sh LABEL PURPOSE PACKAGE=PROBE...
#
# PROBE is a command name, or an absolute path that must be executable. Installs as root, or
# through sudo. A package list that is too old to find them is refreshed once. Outside CI a
# failure only warns (the tests that need the packages then skip); with CI=true it fails the
# build.
set -euo pipefail

label=$1
purpose=$2
shift 2
packages=()
for pair in "$@"; do
  package=${pair%%=*}
  probe=${pair#*=}
  if [[ $probe == /* ]]; then
    [[ -x $probe ]] || packages+=("$package")
  else
    command -v "$probe" > /dev/null || packages+=("$package")
  fi
done
if [[ ${#packages[@]} -eq 0 ]]; then
  exit 0
fi
run() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo > /dev/null; then sudo "$@"; else return 1; fi
}
install() {
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
}
echo "$label: installing Debian's ${packages[*]} for $purpose" >&2
if install || { run apt-get update && install; }; then
  exit 0
fi
echo "$label: could not install ${packages[*]}; the tests that need them will skip" >&2
[[ "${CI:-}" == "true" ]] && exit 1
exit 0
