#!/usr/bin/env bash
# Install the headless browser the report's browser test drives (tests/test_report_browser.py):
# Debian's `chromium` and `chromium-driver`. Idempotent, and never fails the build: where the browser cannot
# be installed (not root, no apt-get, no network), it says why and exits 0, and the test skips with a message.
set -u

have_browser() {
    [ -x /usr/bin/chromium ] && { [ -x /usr/bin/chromedriver ] || command -v chromedriver >/dev/null 2>&1; }
}

if have_browser; then
    echo "install-browser: chromium and chromedriver already present"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "install-browser: not root; install Debian's chromium and chromium-driver to run the browser test"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install chromium and chromedriver to run the browser test"
    exit 0
fi
echo "install-browser: installing chromium and chromium-driver with apt-get"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null; then
    echo "install-browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
else
    echo "install-browser: apt-get could not install chromium; the browser test will skip"
fi
exit 0
