#!/usr/bin/env bash
# The Docker Compose v2 CLI, for `docker compose config` checks on machines without it.
#
# Uses `docker compose` when it works; else builds the plugin from the Go module proxy into
# .tools/docker-compose (about six minutes on two cores, once). No Docker engine is needed to
# validate a compose file.
set -euo pipefail

version="v2.40.3"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="$root/.tools/docker-compose"

if docker compose version > /dev/null 2>&1; then
  exit 0
fi
if [[ -x "$target" ]] && "$target" version > /dev/null 2>&1; then
  exit 0
fi
if ! command -v go > /dev/null; then
  echo "compose: neither 'docker compose' nor Go is available; compose checks will skip" >&2
  exit 0
fi
echo "compose: building docker compose $version from the Go module proxy (once)" >&2
source_dir="$(go mod download -json "github.com/docker/compose/v2@$version" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
mkdir -p "$(dirname "$target")"
(cd "$source_dir" && GOFLAGS=-mod=mod go build -trimpath -o "$target" ./cmd)
"$target" version
