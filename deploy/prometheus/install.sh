#!/usr/bin/env bash
# promtool and amtool (Debian's prometheus and prometheus-alertmanager packages), for the alert
# rules' `promtool test rules` and the Alertmanager config's tests (deploy/apt-install.sh).
exec "$(dirname "$0")/../apt-install.sh" prometheus "promtool / amtool" \
  prometheus=promtool prometheus-alertmanager=amtool
