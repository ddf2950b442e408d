#!/usr/bin/env bash
# Stops the cluster that tests/slurm/start.sh started in DIR: SIGTERM to exactly its two
# daemons (by the pids it recorded; a SIGKILLed slurmctld may lose its last seconds of state),
# then waits for them to exit.
#   tests/slurm/stop.sh DIR
set -uo pipefail
dir="$1"
touch "$dir/stop"
pids=()
for f in slurmctld.daemon.pid slurmd.daemon.pid; do
    [ -f "$dir/$f" ] && pids+=("$(cat "$dir/$f")")
done
[ ${#pids[@]} -gt 0 ] || exit 0
kill -TERM "${pids[@]}" 2>/dev/null
for _ in $(seq 1 100); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && exit 0
    sleep 0.1
done
echo "tests/slurm/stop.sh: daemons ${pids[*]} still running after 10 s" >&2
exit 1
