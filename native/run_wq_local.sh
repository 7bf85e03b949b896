#!/usr/bin/env bash
# Runs one Work Queue benchmark on this host: wq_manager plus W local workers
# (one core each) on 127.0.0.1, and prints the manager's JSON lines.
#
#   native/run_wq_local.sh [TASKS] [N] [WORKERS] [TOLERANCE]      (defaults 12 200000 3 1e-3)
#
# The RFC's configuration is the default. Work files go to a temporary
# directory that is removed afterwards unless KEEP=1.
set -euo pipefail

tasks="${1:-12}"
n="${2:-200000}"
workers="${3:-3}"
tolerance="${4:-1e-3}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$repo_root/build/native"
for exe in "$bin/wq_manager" "$bin/compress_task"; do
  [[ -x "$exe" ]] || { echo "run_wq_local: $exe missing; run scripts/install_native.sh" >&2; exit 1; }
done
command -v work_queue_worker >/dev/null || { echo "run_wq_local: work_queue_worker not on PATH" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  # Single-shot workers leave by themselves once the manager is gone; give
  # them a moment, then kill whatever is left, process groups included.
  for _ in $(seq 100); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.05
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "run_wq_local: files kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

: > "$work/manager.jsonl"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/password"
setsid "$bin/wq_manager" --tasks "$tasks" --n "$n" --tolerance "$tolerance" \
  --task-binary "$bin/compress_task" --out-dir "$work/out" --port 0 \
  --password "$work/password" --transactions-log "$work/transactions.log" --timeout 300 \
  > "$work/manager.jsonl" &
manager=$!
pids+=("$manager")

port=""
for _ in $(seq 1000); do
  port="$(sed -n '1s/.*"port":\([0-9]*\).*/\1/p' "$work/manager.jsonl" || true)"
  [[ -n "$port" ]] && break
  kill -0 "$manager" 2>/dev/null || { echo "run_wq_local: wq_manager exited early" >&2; exit 1; }
  sleep 0.01
done
[[ -n "$port" ]] || { echo "run_wq_local: wq_manager never printed its port" >&2; exit 1; }

for i in $(seq 1 "$workers"); do
  mkdir -p "$work/w$i"
  setsid work_queue_worker --single-shot --cores 1 --password "$work/password" --timeout 60 \
    --workdir "$work/w$i" 127.0.0.1 "$port" > "$work/w$i.log" 2>&1 &
  pids+=("$!")
done

rc=0
wait "$manager" || rc=$?
cat "$work/manager.jsonl"
exit "$rc"
