# Shared by the load scripts (source it): CPU and memory of a process as
# /proc tells, read by the scripts themselves, so no tool is needed.

# CPU ticks of a process and its children (SIPp runs under timeout(1)).
cputicks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1"); do
    total=$(( total + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0) ))
  done
  echo "$total"
}

# Resident memory of a process in MB.
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

# Wait (up to 10 s) until the hotline wrote its ready file.
wait_ready() {
  for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "hotline not ready: $1" >&2
  return 1
}
