#!/usr/bin/env bash
# Install size and time of the core and of [all] (fresh virtual environments, no pip cache), and,
# for the core install, the time of `import faceprint` and of a whole `faceprint verify`.
#
#   scripts/measure_install.sh [WORKDIR]        (needs the data in FACEPRINT_DATA for verify)
#
# Prints one line per measurement; the docs' "Install and start-up" page quotes them.
set -euo pipefail
unset PYTHONPATH  # measure the installed package, never a source tree
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
photos="${FACEPRINT_DATA:-../shared/data}/photos/face_recognition"

python3 -m build --wheel --outdir "$work/dist" . >/dev/null
wheel="$(ls "$work"/dist/faceprint-*.whl)"
echo "wheel: $(basename "$wheel") $(du -k "$wheel" | cut -f1) KiB"

install() {  # $1: name, $2: requirement
    local venv="$work/$1"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1
    local before after start end
    before=$(du -sk "$venv" | cut -f1)
    start=$(date +%s.%N)
    "$venv/bin/python" -m pip install --no-cache-dir "$2" >"$work/$1-pip.log" 2>&1
    end=$(date +%s.%N)
    (cd "$work" && "$venv/bin/python" -c "import faceprint") ||
        { echo "$1: faceprint did not install; see $work/$1-pip.log" >&2; exit 1; }
    after=$(du -sk "$venv" | cut -f1)
    printf '%s: install %.1f s, %d MiB added to the venv (%d packages)\n' "$1" \
        "$(echo "$end - $start" | bc)" $(((after - before) / 1024)) \
        "$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l)"
}

median3() {  # the median of three runs of a command's wall time, in seconds
    local t=()
    for _ in 1 2 3; do
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s.%N)
        t+=("$(echo "$e - $s" | bc)")
    done
    printf '%s\n' "${t[@]}" | sort -n | sed -n 2p
}

install core "$wheel"
core="$work/core/bin"
(
    cd "$work"  # not the source tree: the installed package is imported
    "$core/python" -c "import faceprint" # warm the file cache and .pyc files
    printf 'core: python -c pass %.3f s, import faceprint %.3f s, import faceprint.cli %.3f s (median of 3)\n' \
        "$(median3 "$core/python" -c pass)" \
        "$(median3 "$core/python" -c "import faceprint")" \
        "$(median3 "$core/python" -c "import faceprint.cli")"
    "$core/faceprint" verify "$photos/obama.jpg" "$photos/obama2.jpg" >/dev/null 2>&1 || true
    printf 'core: faceprint --version %.3f s, faceprint verify obama.jpg obama2.jpg %.3f s (median of 3)\n' \
        "$(median3 "$core/faceprint" --version)" \
        "$(median3 "$core/faceprint" verify "$photos/obama.jpg" "$photos/obama2.jpg")"
)
install all "$wheel[all]"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
