#!/usr/bin/env bash
# Starts a private one-node Slurm cluster for sweep's tests:
#   tests/slurm/start.sh DIR OWNER_PID [SLURMCTLD_PORT SLURMD_PORT]
# DIR: a fresh directory for the config, state and logs. OWNER_PID: the test process; the
# daemons are stopped (SIGTERM, by pid) when it exits, even if it dies without cleaning up.
# Installs Debian's slurm-wlm when it is missing (root only). On success prints
# `SLURM_CONF=DIR/slurm.conf` last and exits 0; exits 77 when Slurm is missing and this is not
# root (the caller may skip then, outside CI); any other failure exits 1 with the reason.
set -euo pipefail
dir="$1"
owner="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "tests/slurm/start.sh: $*" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "tests/slurm/start.sh: Slurm is not installed and installing it needs root" >&2
        exit 77
    fi
    echo "tests/slurm/start.sh: installing slurm-wlm (Debian)" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Package lists may be missing on a fresh machine: update once, then install.
    if ! apt-get install -y --no-install-recommends slurm-wlm munge >"$dir/apt.log" 2>&1; then
        apt-get update >>"$dir/apt.log" 2>&1 || die "apt-get update failed (see $dir/apt.log): $(tail -3 "$dir/apt.log")"
        apt-get install -y --no-install-recommends slurm-wlm munge >>"$dir/apt.log" 2>&1 \
            || die "cannot install slurm-wlm (see $dir/apt.log): $(tail -3 "$dir/apt.log")"
    fi
    # The package may start its own daemons (on systems that allow it); ours use their own
    # config and ports, so they do not clash, but say so.
fi
[ "$(id -u)" = 0 ] || { echo "tests/slurm/start.sh: slurmd must run as root" >&2; exit 77; }

mkdir -p "$dir/state" "$dir/spool" "$dir/dev"
# Slurm wants character devices for GPU files: stand-ins with the numbers of /dev/null and
# /dev/zero (symlinks to them where mknod is not allowed). Slurm sets CUDA_VISIBLE_DEVICES from
# the index in the file name.
mknod "$dir/dev/gpu0" c 1 3 2>/dev/null || ln -sf /dev/null "$dir/dev/gpu0"
mknod "$dir/dev/gpu1" c 1 5 2>/dev/null || ln -sf /dev/zero "$dir/dev/gpu1"
host="$(hostname -s)"
node="sweepnode"
# Two free TCP ports: given by the caller (who asked the kernel for them), else picked at random.
ports="${3:-$((20000 + RANDOM % 20000))} ${4:-$((40000 + RANDOM % 20000))}"
read -r ctld_port slurmd_port <<<"$ports"
for f in slurm.conf gres.conf; do
    sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@NODE@|$node|g" \
        -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
        "$here/$f.in" >"$dir/$f"
done
export SLURM_CONF="$dir/slurm.conf"

# -D: stay in the foreground (we own the processes); -i: ignore state left by an earlier run.
setsid slurmctld -D -i -f "$SLURM_CONF" >"$dir/slurmctld.out" 2>&1 </dev/null &
echo $! >"$dir/slurmctld.daemon.pid"
setsid slurmd -D -N "$node" -f "$SLURM_CONF" >"$dir/slurmd.out" 2>&1 </dev/null &
echo $! >"$dir/slurmd.daemon.pid"

# The watchdog: when the owner is gone (or DIR/stop appears), SIGTERM exactly our two daemons.
ctld_pid="$(cat "$dir/slurmctld.daemon.pid")"
slurmd_pid="$(cat "$dir/slurmd.daemon.pid")"
setsid bash -c '
    while kill -0 "$1" 2>/dev/null && [ ! -e "$2/stop" ]; do sleep 0.5; done
    kill -TERM "$3" "$4" 2>/dev/null
' watchdog "$owner" "$dir" "$ctld_pid" "$slurmd_pid" >/dev/null 2>&1 </dev/null &

# Ready when the node is idle (about 3 s).
for _ in $(seq 1 150); do
    state="$(sinfo -h -n "$node" -o %t 2>/dev/null || true)"
    if [ "$state" = "idle" ]; then
        echo "SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    kill -0 "$ctld_pid" 2>/dev/null || die "slurmctld exited: $(tail -5 "$dir/slurmctld.log" "$dir/slurmctld.out" 2>/dev/null)"
    kill -0 "$slurmd_pid" 2>/dev/null || die "slurmd exited: $(tail -5 "$dir/slurmd.log" "$dir/slurmd.out" 2>/dev/null)"
    sleep 0.2
done
touch "$dir/stop"
die "the node did not become idle in 30 s (state: ${state:-unknown}); logs in $dir"
