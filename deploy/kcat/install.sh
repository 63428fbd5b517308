#!/usr/bin/env bash
# kcat (Debian's kcat package), a Kafka client that is not ours, for the integration test that
# reads the liquidation topic read_committed, tests/integration/test_kcat.py
# (deploy/apt-install.sh).
exec "$(dirname "$0")/../apt-install.sh" kcat "the liquidation topic's kcat test" kcat=kcat
