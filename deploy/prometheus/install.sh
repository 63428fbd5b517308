#!/usr/bin/env bash
# promtool and amtool (Debian's prometheus and prometheus-alertmanager packages), for the alert
# rules' `promtool test rules` and the Alertmanager config's tests.
#
# Installs what is missing: as root, or through sudo. A package list that is too old to find
# them is refreshed once. Outside CI a failure only warns (those tests then skip); with
# CI=true it fails the build.
set -euo pipefail

packages=()
command -v promtool > /dev/null || packages+=(prometheus)
command -v amtool > /dev/null || packages+=(prometheus-alertmanager)
if [[ ${#packages[@]} -eq 0 ]]; then
  exit 0
fi
run() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo > /dev/null; then sudo "$@"; else return 1; fi
}
install() {
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
}
echo "prometheus: installing Debian's ${packages[*]} for promtool / amtool" >&2
if install || { run apt-get update && install; }; then
  exit 0
fi
echo "prometheus: could not install ${packages[*]}; the alerting tests will skip" >&2
[[ "${CI:-}" == "true" ]] && exit 1
exit 0
