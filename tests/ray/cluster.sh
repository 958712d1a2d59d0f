#!/usr/bin/env bash
# A real two-node Ray cluster on this machine for tests/test_ray_cluster.py:
#   tests/ray/cluster.sh COMMAND...
# starts a head node (127.0.0.1, a fixed port) and a second node joined to it,
# each in its own process and temp dir with a few CPUs and a small object store,
# runs COMMAND with MOBILENET_RAY_ADDRESS set to the head, and stops both nodes on
# the way out, whether COMMAND passed, failed or was interrupted (trap on EXIT).
# Each node runs `ray start --block` in the background and is stopped by its own
# process id (SIGTERM: ray start then ends the node's processes): no `ray stop`,
# which would end every Ray process of the user on the machine. A process of the
# cluster still running after that fails the run.
#
# Sizes (MOBILENET_RAY_CPUS CPUs a node, default 2; 100 MB object stores): Ray
# counts CPUs as resources, not cores, so 2 + 2 on a 2-core machine is fine.
# Each node's processes take about 300 MB, each actor about 200 MB.
set -euo pipefail
port=${MOBILENET_RAY_PORT:-6390}
cpus=${MOBILENET_RAY_CPUS:-2}
store=$((100 * 1024 * 1024))
# Short: Ray's unix socket paths (temp dir + session name + socket) must fit in 107 bytes.
root=$(mktemp -d /tmp/mnray.XXXXXX)
pids=()

stop() {
  local status=$? pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  # Every process of the cluster (GCS, raylets, workers, monitors) names the temp dir in its command
  # line: none may outlive the nodes. Any that does is reported, ended by its id, and fails the step.
  local left
  for _ in $(seq 20); do
    left=$(pgrep -f -- "$root" || true)
    [ -z "$left" ] && break
    sleep 0.5
  done
  if [ -n "$left" ]; then
    echo "Ray processes still running after the nodes stopped:" >&2
    ps -o pid,args -p "$(echo $left | tr ' ' ,)" >&2 || true
    kill -KILL $left 2>/dev/null || true
    [ "$status" -ne 0 ] || status=1
  fi
  if [ "$status" -ne 0 ]; then
    echo "--- Ray logs (last lines of each) in $root:" >&2
    tail -n 5 "$root"/*/session_latest/logs/raylet*.err "$root"/*.log 2>/dev/null >&2 || true
  fi
  rm -rf "$root"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

# Token authentication, with a token of this run's own (in the environment, never in a file): the
# nodes, the tests' drivers and their workers all inherit it. Left to itself, Ray enables tokens on
# `ray start` when ~/.ray/auth_token exists, but not on the drivers that connect.
export RAY_AUTH_MODE=token
RAY_AUTH_TOKEN=$(python -c 'import secrets; print(secrets.token_hex(32))')
export RAY_AUTH_TOKEN
common=(--num-cpus="$cpus" --object-store-memory="$store" --disable-usage-stats --block)
ray start --head --node-ip-address=127.0.0.1 --port="$port" --include-dashboard=false \
  --temp-dir="$root/head" "${common[@]}" > "$root/head.log" 2>&1 &
pids+=($!)
# The second node joins once the head's GCS answers.
for _ in $(seq 120); do
  grep -q "Ray runtime started" "$root/head.log" && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$root/head.log" >&2; exit 1; }
  sleep 0.5
done
ray start --address="127.0.0.1:$port" --node-ip-address=127.0.0.1 --temp-dir="$root/node2" "${common[@]}" \
  > "$root/node2.log" 2>&1 &
pids+=($!)

export MOBILENET_RAY_ADDRESS="127.0.0.1:$port"
# Wait for both nodes to be alive before the tests start.
python - <<PY
import sys, time
import ray
ray.init(address="$MOBILENET_RAY_ADDRESS", logging_level="ERROR")
for _ in range(120):
    if sum(1 for n in ray.nodes() if n["Alive"]) >= 2:
        print("Ray cluster up:", ray.cluster_resources().get("CPU"), "CPUs on",
              sum(1 for n in ray.nodes() if n["Alive"]), "nodes")
        sys.exit(0)
    time.sleep(0.5)
sys.exit("the second Ray node did not join")
PY
# In the background and waited for, so that a SIGTERM or Ctrl-C reaches the trap at once (bash runs
# traps only between commands), which ends the command first and then the nodes.
"$@" &
pids=($! "${pids[@]}")
wait "${pids[0]}"
