#!/usr/bin/env bash
# Debian's headless Chromium and its ChromeDriver, for the browser test (tests/dags/test_trigger_form.py).
# A no-op when both are there; `make test` (and so .ci/run) calls it.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing Debian's chromium and chromium-driver (the browser test)"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
