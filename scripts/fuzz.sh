#!/usr/bin/env bash
# Runs every Go fuzz target of the module briefly (FUZZTIME, default 3s
# each): the parsers of what comes from outside — SIP, SDP, RTP/RFC 4733,
# SIP INFO, digest headers, flow tokens, config, work-order replies — keep
# meeting new inputs on every test run, not only when someone remembers.
# Their seed corpora (f.Add, testdata/fuzz/) run in the ordinary tests too.
# A failure leaves the input under the package's testdata/fuzz/ (commit it:
# it becomes a regression test).
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# when -fuzztime ends while a worker is busy (go.dev/issue/75804, fixed in
# Go 1.27): no input failed, none is written. Such a run, and only such a
# run, is tried again (up to three runs); anything else fails at once.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
# deadline_flake: the log is Go's coordinator race and nothing else.
deadline_flake() {
  grep -q 'context deadline exceeded' "$log" &&
    ! grep -qE 'Failing input written|panic:|^[[:space:]]+[A-Za-z0-9_]+\.go:[0-9]+:' "$log"
}
while read -r pkg fn; do
  for try in 1 2 3; do
    if go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
      break
    fi
    if [ "$try" -lt 3 ] && deadline_flake; then
      echo "fuzz.sh: $fn: Go's fuzz coordinator stopped on its own deadline (go.dev/issue/75804), no failing input; once more" >&2
      continue
    fi
    echo "fuzz.sh: FAIL: $fn ($pkg)" >&2
    cat "$log" >&2
    exit 1
  done
  n=$((n + 1))
done < <(go test -list '^Fuzz' ./... | awk '/^Fuzz/ {fn[++k]=$1} /^ok/ {for (i=1;i<=k;i++) print $2, fn[i]; k=0}')
echo "fuzz.sh: $n fuzz targets, $fuzztime each: ok"
