#!/usr/bin/env bash
# Soak test: the real binary under a mixed, hostile load for a long time,
# to see that nothing grows — RSS, goroutines, open files, live heap.
#
#   bench/soak.sh [minutes]          # default 30
#
# Load: 10 SIPp seats (digest REGISTER, answer, echo RTP); SIPp callers at
# 1 call/s who press 1, queue, talk for 30 s (about 30 calls up, 10 bridged
# and recorded, the rest hearing the queue announcements); and bench/abuse
# from other loopback addresses: 200 garbage datagrams/s from ever new
# sources, a SIP scanner (OPTIONS, REGISTER with wrong passwords), TCP
# connections left half-sent, wrong console logins. Every minute it samples
# the hotline's VmRSS, open fds, go_goroutines and go_memstats_heap_inuse_bytes.
# Prints a markdown table and the first/last/max of each. Needs sipp
# (scripts/test.sh installs it). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
out=bench/out
mkdir -p "$out"
go build -o "$out/hotline" ./cmd/hotline
go build -o "$out/abuse" ./bench/abuse
go run ./bench/mkpcap -out "$out" >/dev/null
. bench/lib.sh
sip_port=25360
http_port=28380
seat_port=25370
dir=$(mktemp -d)
seats=""
echo "SEQUENTIAL" > "$dir/seats.csv"
for i in $(seq 1 10); do
  id=$((7000 + i))
  seats+="  - { id: \"$id\", name: \"s$id\", password: \"soak-$id-pass\", skills: [consult, legal_aid, mediation, notary, complaint] }"$'\n'
  echo "$id;soak-$id-pass" >> "$dir/seats.csv"
done
cat > "$dir/hotline.yaml" <<YAML
node_id: soak-1
data_dir: $dir/data
log: { level: warn }
sip:
  listen: ["udp://127.0.0.1:$sip_port", "tcp://127.0.0.1:$sip_port"]
  trusted_sources: ["127.0.0.1/32"]
  digest_algorithms: [MD5, SHA-256]   # SIPp 3.6 reads only the first challenge
media:
  rtp_ip: 127.0.0.1
  rtp_ports: "30000-39999"
  rtp_timeout: 300s
http:
  listen: 127.0.0.1:$http_port
acd: { ring_timeout: 15s, wrap_up: 1s, max_wait: 2m }
seats:
$seats
ivr:
  menu: $PWD/configs/ivr.yaml
  prompts: $PWD/configs/prompts/zh
shutdown: { grace: 5s }
YAML
"$out/hotline" serve --config "$dir/hotline.yaml" --ready-file "$dir/ready.json" 2>"$out/soak-hotline.log" &
hpid=$!
trap 'kill $hpid 2>/dev/null || true; rm -rf "$dir"' EXIT
wait_ready "$dir/ready.json"
secs=$(( minutes * 60 ))
timeout 60 sipp -sf bench/sipp/seats_register_csv.xml -inf "$dir/seats.csv" -key domain 12348.local \
  -i 127.0.0.1 -p $seat_port -m 10 -r 10 -nostdin -timeout 50s "127.0.0.1:$sip_port" >"$out/soak-register.out" 2>&1
cp "$out/seat.pcap" "$dir/seat.pcap"
(cd "$dir" && exec timeout $(( secs + 120 )) sipp -sf "$OLDPWD/testdata/sipp/seat_answer.xml" -i 127.0.0.1 -p $seat_port \
  -mi 127.0.0.1 -mp 42000 -rtp_echo -key ring_ms 200 -key talk_ms 1 -key hangup caller -key pt 0 -key codec PCMU \
  -key seat 7000 -m 1000000 -l 20 -nostdin -timeout $(( secs + 110 ))s "127.0.0.1:$sip_port") >"$out/soak-seats.out" 2>&1 &
cp "$out/caller.pcap" "$dir/audio.pcap"
(cd "$dir" && exec timeout $(( secs + 120 )) sipp -sf "$OLDPWD/testdata/sipp/caller_hangs_up.xml" -s 12348 -i 127.0.0.1 -p 25380 \
  -mi 127.0.0.1 -mp 44000 -r 1 -l 60 -m "$secs" -d 30000 -key caller 13800000000 \
  -nostdin -timeout $(( secs + 110 ))s -trace_stat -stf "$OLDPWD/$out/soak-callers.csv" -fd 30 "127.0.0.1:$sip_port") >"$out/soak-callers.out" 2>&1 &
cpid=$!
"$out/abuse" -sip "127.0.0.1:$sip_port" -http "127.0.0.1:$http_port" -for "${minutes}m" >"$out/soak-abuse.out" 2>&1 &
apid=$!
metric() { curl -s "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1==m {print $2}'; }
sample() {
  printf "| %s | %s | %s | %s | %.1f | %s |\n" "$1" "$(rss_mb $hpid)" "$(ls /proc/$hpid/fd | wc -l)" "$(metric go_goroutines)" \
    "$(awk -v b="$(metric go_memstats_heap_inuse_bytes)" 'BEGIN {print b/1048576}')" "$(metric hotline_active_calls)"
}
echo "| minute | RSS MB | open fds | goroutines | heap in use MB | calls up |"
echo "|---|---|---|---|---|---|"
for m in $(seq 0 "$minutes"); do
  sample "$m"
  [ "$m" -lt "$minutes" ] && sleep 60
done
set +e; wait $apid; wait $cpid; set -e
sleep 40 # the last calls end, transactions time out
sample "end + 40 s"
echo
tail -1 "$out/soak-abuse.out"
echo "callers: $(tail -1 "$out/soak-callers.csv" | awk -F';' '{print $16 " ok, " $18 " failed"}')"
