#!/usr/bin/env bash
# promtool (Debian's prometheus package), for the alert rules' `promtool test rules` tests.
#
# Installs the package when promtool is missing: as root, or through sudo. A package list that
# is too old to find it is refreshed once. Outside CI a failure only warns (the rule tests then
# skip); with CI=true it fails the build.
set -euo pipefail

if command -v promtool > /dev/null; then
  exit 0
fi
run() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo > /dev/null; then sudo "$@"; else return 1; fi
}
install() {
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
}
echo "prometheus: installing Debian's prometheus package for promtool" >&2
if install || { run apt-get update && install; }; then
  promtool --version | head -1
  exit 0
fi
echo "prometheus: could not install promtool; the alert rule tests will skip" >&2
[[ "${CI:-}" == "true" ]] && exit 1
exit 0
