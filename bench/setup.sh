#!/usr/bin/env bash
# Prepare the benchmark harness's tools (idempotent, fast when already done):
#   - wrk and nginx (Debian packages): the HTTP load, and the static-file
#     reference of `run.py mirror`;
#   - a separate venv ${BENCH_VENV:-/work/bench-venv} with devpi-server 6.20.3
#     (the reference server), devpi-client, twine and build.
# None of this goes into devpi-twisted's own dependencies.
set -euo pipefail

BENCH_VENV="${BENCH_VENV:-/work/bench-venv}"
DEVPI_SERVER_VERSION="6.20.3"
PYTHON="${PYTHON:-python3}"

# Debian packages: wrk for the HTTP load, nginx as the static-file reference
# of the mirror benchmark (run.py starts its own nginx on a free 127.0.0.1
# port with a generated config; the packaged service is not used).
NGINX="${NGINX:-/usr/sbin/nginx}"
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ -x "$NGINX" ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=sudo
    else
        SUDO=
    fi
    echo "bench/setup.sh: installing ${missing[*]}" >&2
    $SUDO apt-get update
    # Where an init system runs services (no policy-rc.d denying it), Debian
    # starts the packaged nginx on port 80; the benchmark does not need it:
    # `systemctl disable --now nginx` stops it.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
        "${missing[@]}"
fi

# The venv is "done" when it has the pinned devpi-server and every tool.
venv_ok() {
    [ -x "$BENCH_VENV/bin/python" ] || return 1
    for tool in devpi-server devpi-init devpi twine pyproject-build; do
        [ -x "$BENCH_VENV/bin/$tool" ] || return 1
    done
    local have
    have="$("$BENCH_VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("devpi-server"))' 2>/dev/null)" || return 1
    [ "$have" = "$DEVPI_SERVER_VERSION" ]
}

if ! venv_ok; then
    echo "bench/setup.sh: preparing $BENCH_VENV" >&2
    [ -x "$BENCH_VENV/bin/python" ] || "$PYTHON" -m venv "$BENCH_VENV"
    # Plain PyPI: ignore any local pip configuration and extra find-links.
    env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL \
        PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$BENCH_VENV/bin/pip" install --quiet \
        "devpi-server==$DEVPI_SERVER_VERSION" devpi-client twine build
    venv_ok || { echo "bench/setup.sh: $BENCH_VENV is incomplete" >&2; exit 1; }
fi

echo "bench/setup.sh: ready: wrk=$(command -v wrk)" \
    "nginx=$(command -v nginx || echo "$NGINX") venv=$BENCH_VENV" \
    "devpi-server=$("$BENCH_VENV/bin/devpi-server" --version 2>/dev/null | tail -n1)" >&2
