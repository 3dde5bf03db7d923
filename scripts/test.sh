#!/usr/bin/env bash
# Runs every test of the hotline, with the race detector, against real peers.
#
# On a fresh Debian machine it first installs what the tests drive (SIPp from
# sip-tester, tcpdump to hear what a caller hears, redis-server and
# redis-sentinel for the cluster) with apt-get. The tests start their own
# Redis processes on free loopback ports (internal/redistest). It fails
# loudly when a peer cannot be had: no test is ever skipped for a missing peer.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

# Debian package that provides each command the tests need.
declare -A pkg=(
  [sipp]=sip-tester
  [tcpdump]=tcpdump
  [baresip]=baresip-core
  [promtool]=prometheus
  [chromium]=chromium
  [redis-server]=redis-server
  [redis-sentinel]=redis-sentinel
  [sqlite3]=sqlite3
  [chattr]=e2fsprogs
)
missing=()
for cmd in "${!pkg[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg[$cmd]}")
done
[ -f /usr/share/sip-tester/dtmf_2833_1.pcap ] || missing+=(sip-tester)
# Chinese glyphs for the console's screenshots in headless Chromium.
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing test peers: ${missing[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: FAIL: ${missing[*]} missing and this is not a Debian machine (no apt-get); install them by hand" >&2
    exit 1
  fi
  $sudo apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi
for cmd in "${!pkg[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "test.sh: FAIL: $cmd still missing after installing ${pkg[$cmd]}" >&2; exit 1; }
done

echo "test.sh: go $(go env GOVERSION), sipp $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1), $(redis-server --version | cut -d' ' -f1-3)"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$unformatted" ]; then
  echo "test.sh: FAIL: gofmt would change:" $unformatted >&2
  exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m "$@" ./...
# Every fuzz target a few seconds more (the seeds already ran above).
./scripts/fuzz.sh
