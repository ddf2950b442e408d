# Source this file: it makes sure PyTorch's libtorch (torch==2.11.0 from PyPI) is installed in a
# per-user cache shared by every clone and CI run, then exports what tch's build and the binary need.
#
# The cache lives outside the clone so a second clone reuses the 4.6 GB install. An install that
# stopped half-way has no `.complete` marker and is removed and redone; a venv whose torch reports
# another version is repaired the same way.
SWEEP_TORCH_VERSION="2.11.0"
SWEEP_CACHE="${SWEEP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sweep}"
SWEEP_VENV="$SWEEP_CACHE/torch-$SWEEP_TORCH_VERSION"

sweep_torch_ok() {
  [ -f "$SWEEP_VENV/.complete" ] && [ -x "$SWEEP_VENV/bin/python" ] &&
    [ "$("$SWEEP_VENV/bin/python" -c 'import torch,sys; sys.stdout.write(torch.__version__.split("+")[0])' 2>/dev/null)" = "$SWEEP_TORCH_VERSION" ]
}

sweep_install_torch() {
  echo "sweep: installing torch==$SWEEP_TORCH_VERSION into $SWEEP_VENV (one time, about a minute)" >&2
  mkdir -p "$SWEEP_CACHE"
  # One installer at a time: a second clone waits instead of corrupting the venv.
  exec 9>"$SWEEP_CACHE/.install.lock"
  flock 9
  if sweep_torch_ok; then exec 9>&-; return 0; fi
  rm -rf "$SWEEP_VENV"
  python3 -m venv "$SWEEP_VENV" &&
    "$SWEEP_VENV/bin/python" -m pip install --quiet --no-cache-dir "torch==$SWEEP_TORCH_VERSION" &&
    touch "$SWEEP_VENV/.complete"
  local rc=$?
  exec 9>&-
  if [ $rc -ne 0 ] || ! sweep_torch_ok; then
    echo "sweep: installing torch==$SWEEP_TORCH_VERSION failed; rerun to retry" >&2
    return 1
  fi
}

sweep_torch_ok || sweep_install_torch || return 1 2>/dev/null || exit 1

export PATH="$SWEEP_VENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
SWEEP_TORCH_LIB="$("$SWEEP_VENV/bin/python" -W ignore -c 'import torch,os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"
export SWEEP_TORCH_LIB
