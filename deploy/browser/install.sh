#!/usr/bin/env bash
# Chromium and its chromedriver (Debian's chromium and chromium-driver packages), for the demo
# page's headless browser test, tests/demo/test_browser.py (deploy/apt-install.sh).
exec "$(dirname "$0")/../apt-install.sh" browser "the demo page's browser test" \
  chromium=/usr/bin/chromium chromium-driver=/usr/bin/chromedriver
