#!/usr/bin/env bash
# Load test: N concurrent bridged, recorded calls through the real binary.
#
#   bench/bridged.sh [N ...]        # default: 50 100 200
#
# For each N: a fresh hotline with N seats (log level warn, recordings on);
# SIPp registers all N seats with digest auth from one port
# (bench/sipp/seats_register_csv.xml), then one SIPp UAS on that port
# answers every INVITE and echoes the RTP it gets (-rtp_echo); SIPp callers
# press 1, are queued, connected and talk (they play a pcap: caller audio
# flows both ways through the switch and is recorded in stereo). In steady
# state it measures the hotline's CPU (utime+stime over 10 s), RSS, the
# seats busy (hotline_seats{state="busy"}), and SIPp's own CPU.
# Needs sipp (scripts/test.sh installs it). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(50 100 200)
out=bench/out
mkdir -p "$out"
go build -o "$out/hotline" ./cmd/hotline
go run ./bench/mkpcap -out "$out" >/dev/null
hz=$(getconf CLK_TCK)
sip_port=25160
http_port=28180
seat_port=25170
. bench/lib.sh
metric() { curl -s "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1==m {print $2}'; }

echo "| bridged calls | hotline CPU (cores) | CPU per call (ms/s) | RSS MB | seats busy | SIPp callers CPU | SIPp seats CPU | calls ok/failed |"
echo "|---|---|---|---|---|---|---|---|"
for n in "${levels[@]}"; do
  dir=$(mktemp -d)
  seats=""
  : > "$dir/seats.csv"
  echo "SEQUENTIAL" > "$dir/seats.csv"
  for i in $(seq 1 "$n"); do
    id=$((7000 + i))
    seats+="  - { id: \"$id\", name: \"s$id\", password: \"bench-$id-pass\", skills: [consult, legal_aid, mediation, notary, complaint] }"$'\n'
    echo "$id;bench-$id-pass" >> "$dir/seats.csv"
  done
  cat > "$dir/hotline.yaml" <<YAML
node_id: bench-1
data_dir: $dir/data
log: { level: warn }
sip:
  listen: ["udp://127.0.0.1:$sip_port"]
  trusted_sources: ["127.0.0.1/32"]
  digest_algorithms: [MD5, SHA-256]
media:
  rtp_ip: 127.0.0.1
  rtp_ports: "30000-39999"
  rtp_timeout: 300s
http:
  listen: 127.0.0.1:$http_port
acd: { ring_timeout: 15s, wrap_up: 1s }
seats:
$seats
ivr:
  menu: $PWD/configs/ivr.yaml
  prompts: $PWD/configs/prompts/zh
shutdown: { grace: 5s }
YAML
  "$out/hotline" serve --config "$dir/hotline.yaml" --ready-file "$dir/ready.json" 2>"$out/bridged-hotline-$n.log" &
  hpid=$!
  wait_ready "$dir/ready.json"
  timeout 60 sipp -sf bench/sipp/seats_register_csv.xml -inf "$dir/seats.csv" -key domain 12348.local \
    -i 127.0.0.1 -p $seat_port -m "$n" -r 50 -nostdin -timeout 50s "127.0.0.1:$sip_port" >"$out/bridged-register-$n.out" 2>&1
  cp "$out/seat.pcap" "$dir/seat.pcap"
  (cd "$dir" && exec timeout 200 sipp -sf "$OLDPWD/testdata/sipp/seat_answer.xml" -i 127.0.0.1 -p $seat_port -mi 127.0.0.1 -mp 42000 -rtp_echo \
    -key ring_ms 200 -key talk_ms 1 -key hangup caller -key pt 0 -key codec PCMU -key seat 7000 \
    -m "$n" -l "$n" -nostdin -timeout 190s "127.0.0.1:$sip_port") >"$out/bridged-seats-$n.out" 2>&1 &
  seatpid=$!
  cp "$out/caller.pcap" "$dir/audio.pcap"
  rate=$(( n / 10 )); [ $rate -lt 5 ] && rate=5; [ $rate -gt 50 ] && rate=50
  ramp=$(( (n + rate - 1) / rate ))
  hold_ms=$(( (ramp + 25) * 1000 ))
  (cd "$dir" && exec timeout $(( ramp + 120 )) sipp -sf "$OLDPWD/testdata/sipp/caller_hangs_up.xml" -s 12348 -i 127.0.0.1 -p 25180 \
    -mi 127.0.0.1 -mp 44000 -r "$rate" -l "$n" -m "$n" -d "$hold_ms" -key caller 13800000000 \
    -nostdin -timeout $(( ramp + 110 ))s -trace_stat -stf "$OLDPWD/$out/bridged-callers-$n.csv" -fd 5 "127.0.0.1:$sip_port") \
    >"$out/bridged-callers-$n.out" 2>&1 &
  cpid=$!
  sleep $(( ramp + 5 ))
  busy=$(metric 'hotline_seats{state="busy"}')
  h0=$(cputicks $hpid); c0=$(cputicks $cpid); s0=$(cputicks $seatpid); t0=$(date +%s.%N)
  sleep 10
  h1=$(cputicks $hpid); c1=$(cputicks $cpid); s1=$(cputicks $seatpid); t1=$(date +%s.%N)
  rss=$(rss_mb $hpid)
  set +e; wait $cpid; wait $seatpid; set -e
  ok=$(tail -1 "$out/bridged-callers-$n.csv" | awk -F';' '{print $16}')
  failed=$(tail -1 "$out/bridged-callers-$n.csv" | awk -F';' '{print $18}')
  kill -TERM $hpid; wait $hpid || true
  read -r hc cc sc per <<<"$(awk -v h0=$h0 -v h1=$h1 -v c0=$c0 -v c1=$c1 -v s0=$s0 -v s1=$s1 -v t0=$t0 -v t1=$t1 -v hz=$hz -v n=${busy:-0} \
    'BEGIN { dt=t1-t0; hc=(h1-h0)/hz/dt; printf "%.2f %.2f %.2f %.2f", hc, (c1-c0)/hz/dt, (s1-s0)/hz/dt, (n>0? hc*1000/n : 0) }')"
  recs=$(find "$dir/data/recordings" -name '*.wav' | wc -l)
  printf "| %s (%s WAVs) | %s | %s | %s | %s | %s | %s | %s/%s |\n" "$n" "$recs" "$hc" "$per" "$rss" "${busy:-?}" "$cc" "$sc" "$ok" "$failed"
  rm -rf "$dir"
done
