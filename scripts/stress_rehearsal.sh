#!/usr/bin/env bash
# Stress rehearsal: run the whole test suite N times (default 3) while two CPU hogs run, and check
# that the work tree is unchanged after each pass. Prints each pass's time and outcome.
#
#   scripts/stress_rehearsal.sh [PASSES] [-- PYTEST ARGS...]
#
# Run it from a checkout with the dev install active (pip install -e ".[dev]"). It exits non-zero
# on the first failing pass or the first pass that leaves `git status --porcelain` non-empty.
set -euo pipefail
cd "$(dirname "$0")/.."

passes="${1:-3}"
shift || true
[ "${1:-}" = "--" ] && shift
hogs="${STRESS_HOGS:-2}"

before="$(git status --porcelain)"
if [ -n "$before" ]; then
    echo "the work tree is not clean before the rehearsal; commit or stash first:" >&2
    echo "$before" >&2
    exit 2
fi

pids=()
stop_hogs() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT
for _ in $(seq "$hogs"); do
    python3 -c "while True: pass" &
    pids+=("$!")
done
echo "started $hogs CPU hogs (pids ${pids[*]}) on $(nproc) cores"

for pass in $(seq "$passes"); do
    start=$(date +%s)
    set +e
    python -m pytest -q -p no:cacheprovider "$@" >"/tmp/faceprint-stress-$pass.log" 2>&1
    code=$?
    set -e
    took=$(($(date +%s) - start))
    summary="$(tail -n 1 "/tmp/faceprint-stress-$pass.log")"
    dirty="$(git status --porcelain)"
    echo "pass $pass/$passes: exit $code in ${took}s, load $(cut -d' ' -f1 /proc/loadavg): $summary"
    if [ "$code" -ne 0 ]; then
        echo "pass $pass failed; log: /tmp/faceprint-stress-$pass.log" >&2
        exit 1
    fi
    if [ -n "$dirty" ]; then
        echo "pass $pass left the work tree dirty:" >&2
        echo "$dirty" >&2
        exit 1
    fi
done
echo "all $passes passes green with a clean work tree"
