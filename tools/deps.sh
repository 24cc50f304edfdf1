# Sourced by tools/run and tools/test: installs what is missing with
# apt-get (Debian 12, as root). Quiet when everything is there.
kg_debs="gcc pkg-config meson ninja-build python3 clang libclang-rt-14-dev
libuv1-dev libssl-dev libsrtp2-dev libopus-dev libvpx-dev libcmocka-dev
libwebsockets-dev libjansson-dev libsqlite3-dev chromium"
# The browser tests (tests/browser) need node (20 or later for their
# playwright-core and puppeteer-core) and npm. Debian's nodejs and npm come in only when node
# or npm is missing, so that a newer node installed another way is left
# alone.
kg_node_debs="nodejs npm"

# Only tools/test needs these: Debian's Firefox ESR (the second browser
# test); Debian's Janus, so that the comparison test
# (tests/e2e/janus_compare_test.py) runs instead of skipping; GStreamer's
# webrtcbin with Debian's python3-gi, the third-party client of
# tests/e2e/gst_test.py (run with /usr/bin/python3); ip and nft, so that
# the ICE-TCP browser test (tests/browser/tcp.test.js) can make its
# network namespace and drop UDP in it.
kg_test_debs="firefox-esr janus python3-gi gir1.2-gstreamer-1.0
gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1
gstreamer1.0-nice gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad iproute2 nftables"

# kg_install_deps [test]: with "test", the test-only packages too.
kg_install_deps() {
    missing=""
    want=$kg_debs
    [ "${1:-}" = test ] && want="$want $kg_test_debs"
    for p in $want; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        missing="$missing $kg_node_debs"
    fi
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "tools: need root to apt-get install:$missing" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null &&
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
