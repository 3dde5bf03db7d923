#!/usr/bin/env bash
# Load test of a cluster (SPEC §11): two real hotline nodes on one Redis,
# N concurrent bridged, recorded calls — the callers split over both nodes,
# the seats split over both nodes (half register to A, half to B), so about
# half the calls reach their seat through the other node.
#
#   bench/cluster.sh [N ...]        # default: 40 100
#
# For each N: redis-server, two nodes (log level warn), N seats registered by
# SIPp with digest auth (N/2 from one port to A, N/2 from another to B), one
# SIPp UAS per seat port answering every INVITE and echoing its RTP; two SIPp
# callers (N/2 to A, N/2 to B) press 1, are queued, connected and talk. In
# steady state: both nodes' CPU over 10 s, the seats busy, the claims made,
# how many calls crossed nodes (hotline_sip_forwarded_total), and the calls
# ok/failed as SIPp counts them. Needs sipp and redis-server
# (scripts/test.sh installs them). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(40 100)
out=bench/out
mkdir -p "$out"
go build -o "$out/hotline" ./cmd/hotline
go run ./bench/mkpcap -out "$out" >/dev/null
hz=$(getconf CLK_TCK)
. bench/lib.sh
redis_port=26391
sip=(25260 25262)
http=(28280 28282)
seat_port=(25270 25272)
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {s+=$2} END {print s+0}'; }

echo "| bridged calls | A CPU (cores) | B CPU (cores) | CPU per call (ms/s) | seats busy | claims | INVITEs forwarded A→B→seat, B→A→seat | calls ok/failed |"
echo "|---|---|---|---|---|---|---|---|"
for n in "${levels[@]}"; do
  dir=$(mktemp -d)
  redis-server --bind 127.0.0.1 --port $redis_port --save '' --appendonly no --dir "$dir" >/dev/null &
  rpid=$!
  seats=""
  for node in 0 1; do echo "SEQUENTIAL" > "$dir/seats$node.csv"; done
  for i in $(seq 1 "$n"); do
    id=$((7000 + i))
    seats+="  - { id: \"$id\", name: \"s$id\", password: \"bench-$id-pass\", skills: [consult, legal_aid, mediation, notary, complaint] }"$'\n'
    echo "$id;bench-$id-pass" >> "$dir/seats$(( i % 2 )).csv"
  done
  pids=()
  for node in 0 1; do
    mkdir -p "$dir/n$node"
    cat > "$dir/n$node/hotline.yaml" <<YAML
node_id: bench-$node
data_dir: $dir/n$node/data
log: { level: warn }
sip:
  listen: ["udp://127.0.0.1:${sip[$node]}", "tcp://127.0.0.1:${sip[$node]}"]
  trusted_sources: ["127.0.0.1/32"]
  digest_algorithms: [MD5, SHA-256]
media:
  rtp_ip: 127.0.0.1
  rtp_ports: "$(( 30000 + node * 5000 ))-$(( 34999 + node * 5000 ))"
  rtp_timeout: 300s
http:
  listen: 127.0.0.1:${http[$node]}
acd: { backend: redis, redis_url: "redis://127.0.0.1:$redis_port/0", ring_timeout: 15s, wrap_up: 1s }
cluster:
  advertise_sip: "sip:127.0.0.1:${sip[$node]};transport=tcp"
  advertise_http: "http://127.0.0.1:${http[$node]}"
  secret: bench-cluster-secret-0123
seats:
$seats
ivr:
  menu: $PWD/configs/ivr.yaml
  prompts: $PWD/configs/prompts/zh
shutdown: { grace: 5s }
YAML
    "$out/hotline" serve --config "$dir/n$node/hotline.yaml" --ready-file "$dir/n$node/ready.json" 2>"$out/cluster-hotline$node-$n.log" &
    pids+=($!)
  done
  for node in 0 1; do wait_ready "$dir/n$node/ready.json"; done
  half=$(( n / 2 ))
  seatpids=()
  for node in 0 1; do
    cnt=$(( node == 0 ? n - half : half ))
    timeout 60 sipp -sf bench/sipp/seats_register_csv.xml -inf "$dir/seats$(( (node + 1) % 2 )).csv" -key domain 12348.local \
      -i 127.0.0.1 -p ${seat_port[$node]} -m "$cnt" -r 50 -nostdin -timeout 50s "127.0.0.1:${sip[$node]}" >"$out/cluster-register$node-$n.out" 2>&1
    mkdir -p "$dir/seat$node"; cp "$out/seat.pcap" "$dir/seat$node/seat.pcap"
    (cd "$dir/seat$node" && exec timeout 240 sipp -sf "$OLDPWD/testdata/sipp/seat_answer.xml" -i 127.0.0.1 -p ${seat_port[$node]} -mi 127.0.0.1 -mp $(( 42000 + node * 2000 )) -rtp_echo \
      -key ring_ms 200 -key talk_ms 1 -key hangup caller -key pt 0 -key codec PCMU -key seat 7000 \
      -m "$n" -l "$n" -nostdin -timeout 230s "127.0.0.1:${sip[$node]}") >"$out/cluster-seats$node-$n.out" 2>&1 &
    seatpids+=($!)
  done
  rate=$(( n / 20 )); [ $rate -lt 3 ] && rate=3; [ $rate -gt 25 ] && rate=25
  ramp=$(( (half + rate - 1) / rate ))
  hold_ms=$(( (ramp + 25) * 1000 ))
  callpids=()
  for node in 0 1; do
    cnt=$(( node == 0 ? n - half : half ))
    mkdir -p "$dir/call$node"; cp "$out/caller.pcap" "$dir/call$node/audio.pcap"
    (cd "$dir/call$node" && exec timeout $(( ramp + 120 )) sipp -sf "$OLDPWD/testdata/sipp/caller_hangs_up.xml" -s 12348 -i 127.0.0.1 -p $(( 25280 + node * 2 )) \
      -mi 127.0.0.1 -mp $(( 46000 + node * 2000 )) -r "$rate" -l "$cnt" -m "$cnt" -d "$hold_ms" -key caller 1380000000$node \
      -nostdin -timeout $(( ramp + 110 ))s -trace_stat -stf "$OLDPWD/$out/cluster-callers$node-$n.csv" -fd 5 "127.0.0.1:${sip[$node]}") \
      >"$out/cluster-callers$node-$n.out" 2>&1 &
    callpids+=($!)
  done
  sleep $(( ramp + 6 ))
  busy=$(metric ${http[0]} 'hotline_seats{state="busy"}')
  a0=$(cputicks ${pids[0]}); b0=$(cputicks ${pids[1]}); t0=$(date +%s.%N)
  sleep 10
  a1=$(cputicks ${pids[0]}); b1=$(cputicks ${pids[1]}); t1=$(date +%s.%N)
  set +e; for p in "${callpids[@]}" "${seatpids[@]}"; do wait $p; done; set -e
  ok=0; failed=0
  for node in 0 1; do
    ok=$(( ok + $(tail -1 "$out/cluster-callers$node-$n.csv" | awk -F';' '{print $16}') ))
    failed=$(( failed + $(tail -1 "$out/cluster-callers$node-$n.csv" | awk -F';' '{print $18}') ))
  done
  claims=$(( $(metric ${http[0]} 'hotline_acd_claims_total{result="offered"}') + $(metric ${http[1]} 'hotline_acd_claims_total{result="offered"}') ))
  fwd_b=$(metric ${http[1]} 'hotline_sip_forwarded_total{method="INVITE"}')
  fwd_a=$(metric ${http[0]} 'hotline_sip_forwarded_total{method="INVITE"}')
  for p in "${pids[@]}"; do kill -TERM $p; done
  for p in "${pids[@]}"; do wait $p || true; done
  kill $rpid; wait $rpid || true
  read -r ac bc per <<<"$(awk -v a0=$a0 -v a1=$a1 -v b0=$b0 -v b1=$b1 -v t0=$t0 -v t1=$t1 -v hz=$hz -v n=${busy:-0} \
    'BEGIN { dt=t1-t0; ac=(a1-a0)/hz/dt; bc=(b1-b0)/hz/dt; printf "%.2f %.2f %.2f", ac, bc, (n>0? (ac+bc)*1000/n : 0) }')"
  recs=$(find "$dir"/n*/data/recordings -name '*.wav' 2>/dev/null | wc -l)
  printf "| %s (%s WAVs) | %s | %s | %s | %s | %s | %s, %s | %s/%s |\n" "$n" "$recs" "$ac" "$bc" "$per" "${busy:-?}" "$claims" "$fwd_b" "$fwd_a" "$ok" "$failed"
  rm -rf "$dir"
done
