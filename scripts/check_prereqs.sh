#!/bin/sh
# Check what `make run` / `make test` need before building anything: Python >= 3.11 with venv, Node.js >= 20
# with npm and, with --browser (the browser tests of `make test`), Chromium. Prints one line per missing thing,
# with the command that installs it, and exits 1; prints nothing and exits 0 when all is there.
# Plain POSIX sh and shell builtins only: it runs where Python itself is missing.
#
# Environment: PYTHON (interpreter that creates the venv, default python3), VENV (default .venv; when it holds
# a Python, that one is checked), CHROMIUM_PATH (the browser the tests drive, default /usr/bin/chromium).

browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    *) echo "usage: $0 [--browser]" >&2; exit 2 ;;
  esac
done

case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac
root=$(cd "$here/.." && pwd)
python=${PYTHON:-python3}
venv=${VENV:-.venv}
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
missing=0

say() {
  echo "$*" >&2
  missing=1
}

PY_INSTALL="sudo apt-get install python3 python3-venv (Debian 12+, Ubuntu 24.04+) | brew install python@3.11 (macOS); to use another interpreter: make PYTHON=python3.11"
NODE_INSTALL="curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs (Debian/Ubuntu) | brew install node@20 (macOS)"

# --- Python >= 3.11, with the venv module unless the virtual environment exists already ---
if [ -x "$venv/bin/python" ]; then
  if ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "Python 3.11 or newer needed: $venv uses an older or broken Python. Remove $venv, then install: $PY_INSTALL"
  fi
elif ! command -v "$python" >/dev/null 2>&1; then
  say "Python 3.11 or newer missing ($python not found). Install: $PY_INSTALL"
elif ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  found=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
  say "Python 3.11 or newer needed ($python is Python ${found:-of an unknown version}). Install: $PY_INSTALL"
elif ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  say "Python's venv module missing ($python -m venv would fail). Install: sudo apt-get install python3-venv (Debian/Ubuntu; python3.11-venv for python3.11) | brew reinstall python@3.11 (macOS)"
fi

# --- Node.js >= 20 and npm ---
if ! command -v node >/dev/null 2>&1; then
  say "Node.js 20 or newer missing (node not found; it builds the web app). Install: $NODE_INSTALL"
else
  version=$(node --version 2>/dev/null)
  major=${version#v}
  major=${major%%.*}
  case "$major" in
    '' | *[!0-9]*) say "Node.js 20 or newer needed (node --version says '${version}'). Install: $NODE_INSTALL" ;;
    *) if [ "$major" -lt 20 ]; then
         say "Node.js 20 or newer needed (node is ${version}). Install: $NODE_INSTALL"
       fi ;;
  esac
fi
if ! command -v npm >/dev/null 2>&1; then
  say "npm missing (it installs and builds the web app). Install: sudo apt-get install npm (Debian/Ubuntu; NodeSource's nodejs includes it) | brew install node@20 (macOS)"
fi

# --- Chromium, for the browser tests ---
if [ "$browser" = 1 ] && [ ! -x "$chromium" ]; then
  elsewhere=$(command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null)
  if [ -n "$elsewhere" ] && [ -z "${CHROMIUM_PATH:-}" ]; then
    say "Chromium for the browser tests is at $elsewhere, not $chromium: export CHROMIUM_PATH=$elsewhere"
  else
    say "Chromium missing for the browser tests ($chromium not found). Install: sudo apt-get install chromium (Debian) | sudo snap install chromium (Ubuntu, then export CHROMIUM_PATH=/snap/bin/chromium) | brew install --cask chromium (macOS, then export CHROMIUM_PATH=/Applications/Chromium.app/Contents/MacOS/Chromium)"
  fi
fi

exit "$missing"
