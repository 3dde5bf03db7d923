#!/usr/bin/env bash
# Load test: N concurrent IVR calls from SIPp against the real binary.
#
#   bench/load.sh [N ...]          # default: 100 250 500 1000
#
# For each N: a fresh hotline (log level warn), SIPp ramps N listen-only
# callers into the IVR (cheap for SIPp, as PEERS.md advises) and holds them;
# in steady state it measures the hotline's own CPU (utime+stime from
# /proc/PID/stat over 10 s), its RSS, SIPp's CPU, and times the switch's
# outgoing RTP on one extra probe call captured with tcpdump (largest gap,
# gaps > 40 ms, RFC 3550 jitter). Prints a markdown table; raw files stay in
# bench/out/. Needs sipp and tcpdump (scripts/test.sh installs them), root for tcpdump.
set -euo pipefail
cd "$(dirname "$0")/.."
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(100 250 500 1000)
out=bench/out
mkdir -p "$out"
go build -o "$out/hotline" ./cmd/hotline
go build -o "$out/rtpgaps" ./bench/rtpgaps
hz=$(getconf CLK_TCK)
sip_port=25060
http_port=28080

. bench/lib.sh

echo "| calls | ramp/s | hotline CPU (cores) | CPU per call (ms/s) | RSS MB | SIPp CPU (cores) | probe RTP: max gap ms | gaps >40 ms | jitter ms | calls ok/failed |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in "${levels[@]}"; do
  dir=$(mktemp -d)
  cat > "$dir/hotline.yaml" <<YAML
node_id: bench-1
data_dir: $dir/data
log: { level: warn }
sip:
  listen: ["udp://127.0.0.1:$sip_port"]
  trusted_sources: ["127.0.0.1/32"]
media:
  rtp_ip: 127.0.0.1
  rtp_ports: "30000-39999"
  rtp_timeout: 300s
http:
  listen: 127.0.0.1:$http_port
seats:
  - { id: "8001", name: "b", password: "bench-pass-8001", skills: [consult] }
ivr:
  menu: $PWD/configs/ivr.yaml
  prompts: $PWD/configs/prompts/zh
shutdown: { grace: 5s }
YAML
  "$out/hotline" serve --config "$dir/hotline.yaml" --ready-file "$dir/ready.json" 2>"$out/hotline-$n.log" &
  hpid=$!
  wait_ready "$dir/ready.json"
  rate=$(( n / 10 )); [ $rate -gt 100 ] && rate=100; [ $rate -lt 10 ] && rate=10
  ramp=$(( (n + rate - 1) / rate ))
  hold_ms=$(( (ramp + 25) * 1000 ))
  timeout $(( ramp + 90 )) sipp -sf testdata/sipp/caller_listens.xml -s 12348 -i 127.0.0.1 -p 25070 \
    -mi 127.0.0.1 -mp 40000 -r "$rate" -l "$n" -m "$n" -d "$hold_ms" -key caller 13800000000 \
    -nostdin -timeout $(( ramp + 80 ))s -trace_stat -stf "$out/sipp-$n.csv" -fd 5 \
    "127.0.0.1:$sip_port" >"$out/sipp-$n.out" 2>&1 &
  spid=$!
  sleep $(( ramp + 3 ))
  active=$(curl -s "http://127.0.0.1:$http_port/metrics" | awk '/^hotline_active_calls / {print $2}')
  # probe call, captured
  tcpdump -i lo -U -n -w "$out/probe-$n.pcap" "udp and dst port 41000" 2>/dev/null &
  tpid=$!
  sleep 1
  sipp -sf testdata/sipp/caller_listens.xml -s 12348 -i 127.0.0.1 -p 25090 -mi 127.0.0.1 -mp 41000 \
    -m 1 -d 12000 -key caller 13900000000 -nostdin -timeout 30s "127.0.0.1:$sip_port" >/dev/null 2>&1 &
  ppid=$!
  sleep 1
  h0=$(cputicks $hpid); s0=$(cputicks $spid); t0=$(date +%s.%N)
  sleep 10
  h1=$(cputicks $hpid); s1=$(cputicks $spid); t1=$(date +%s.%N)
  rss=$(rss_mb $hpid)
  wait $ppid || true
  kill -INT $tpid; wait $tpid 2>/dev/null || true
  probe=$("$out/rtpgaps" "$out/probe-$n.pcap")
  set +e; wait $spid; sipp_rc=$?; set -e
  ok=$(tail -1 "$out/sipp-$n.csv" | awk -F';' '{print $16}')
  failed=$(tail -1 "$out/sipp-$n.csv" | awk -F';' '{print $18}')
  kill -TERM $hpid; wait $hpid || true
  read -r hcores scores per_call <<<"$(awk -v h0=$h0 -v h1=$h1 -v s0=$s0 -v s1=$s1 -v t0=$t0 -v t1=$t1 -v hz=$hz -v n=$active \
    'BEGIN { dt=t1-t0; hc=(h1-h0)/hz/dt; sc=(s1-s0)/hz/dt; printf "%.2f %.2f %.2f", hc, sc, (n>0? hc*1000/n : 0) }')"
  maxgap=$(echo "$probe" | sed 's/.*"max_gap_ms":\([0-9.]*\).*/\1/')
  over=$(echo "$probe" | sed 's/.*"gaps_over_40ms":\([0-9]*\).*/\1/')
  jit=$(echo "$probe" | sed 's/.*"jitter_ms":\([0-9.]*\).*/\1/')
  printf "| %s (%s active) | %s | %s | %s | %s | %s | %.1f | %s | %.2f | %s/%s (sipp exit %s) |\n" \
    "$n" "$active" "$rate" "$hcores" "$per_call" "$rss" "$scores" "$maxgap" "$over" "$jit" "$ok" "$failed" "$sipp_rc"
  rm -rf "$dir"
done
