#!/usr/bin/env bash
# Runs every Go fuzz target of the module briefly (FUZZTIME, default 3s
# each): the parsers of what comes from outside — SIP, SDP, RTP/RFC 4733,
# SIP INFO, digest headers, flow tokens, config, work-order replies — keep
# meeting new inputs on every test run, not only when someone remembers.
# Their seed corpora (f.Add, testdata/fuzz/) run in the ordinary tests too.
# A failure leaves the input under the package's testdata/fuzz/ (commit it:
# it becomes a regression test).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
n=0
while read -r pkg fn; do
  go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1 || {
    echo "fuzz.sh: FAIL: $fn ($pkg)" >&2
    cat /tmp/fuzz.$$.log >&2
    rm -f /tmp/fuzz.$$.log
    exit 1
  }
  n=$((n + 1))
done < <(go test -list '^Fuzz' ./... | awk '/^Fuzz/ {fn[++k]=$1} /^ok/ {for (i=1;i<=k;i++) print $2, fn[i]; k=0}')
rm -f /tmp/fuzz.$$.log
echo "fuzz.sh: $n fuzz targets, $fuzztime each: ok"
