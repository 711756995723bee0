# Sourced by scripts/demo and scripts/test: make .venv and install sockjet with the extras in $1 into it,
# unless what it holds was installed from this very pyproject.toml by this very Python. The stamp
# (.venv/.sockjet-install-<extras>) records both; a second launch then starts without pip, and works
# without a package index. Delete .venv (or the stamp) to force a reinstall.
sockjet_venv() {
  local extras="$1" stamp want
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || {
      echo "$0: could not create .venv; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2
      exit 1
    }
  fi
  stamp=".venv/.sockjet-install-${extras//,/-}"
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(.venv/bin/python -c 'import sys; print(sys.version)' | head -1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c 'import sockjet' 2>/dev/null; then
    return 0
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  printf '%s' "$want" > "$stamp"
}
