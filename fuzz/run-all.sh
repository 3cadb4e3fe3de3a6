#!/bin/bash
# Runs every fuzz target for a given amount of CPU time, on the corpus kept
# in the repository (fuzz/corpus/<target>), then minimises that corpus in
# place (libFuzzer -merge=1), so the next run starts where this one stopped.
#
#   fuzz/run-all.sh [--cpu-seconds N] [--jobs J] [target...]
#
# --cpu-seconds  CPU time per target (default 1800). CPU time, not wall time:
#                the fuzzers run under `nice -n 19`, so a benchmark or a build
#                started meanwhile takes the machine and the fuzzer simply
#                runs longer. A fuzzer is stopped with SIGINT once its CPU
#                time reaches N. Do not SIGSTOP a fuzzer to make room:
#                libFuzzer's -timeout counts wall time, and the unit that
#                was running when it stopped is then reported as a timeout.
# --jobs         targets fuzzed at the same time (default 2).
# Logs: fuzz/logs/<target>.log (git-ignored); one summary line per target is
# printed: executions, exec/s (per CPU second), cov, ft, corpus before/after,
# crashes (artifacts in fuzz/artifacts/<target>/).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cpu=1800
jobs=2
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu-seconds) cpu=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        -h|--help) sed -n "2,20p" "$0"; exit 0 ;;
        -*) echo "run-all.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
targets=${*:-"query xfr_request transfer bgp catalog snapshot zonefile config api_zone query_parse bfd"}

max_len() {
    case "$1" in
        catalog) echo 2048 ;;
        api_zone) echo 1024 ;;
        bfd) echo 512 ;;
        transfer|zonefile|config) echo 8192 ;;
        *) echo 4096 ;;
    esac
}
extra() {
    case "$1" in
        query|xfr_request) echo "-dict=$here/dict/query.dict" ;;
        *) echo "" ;;
    esac
}

cd "$root"
for t in $targets; do
    RUSTC_BOOTSTRAP=1 cargo fuzz build "$t" >/dev/null
done
bin="$here/target/x86_64-unknown-linux-gnu/release"
mkdir -p "$here/logs"

# cpu_of PID: user + system CPU seconds of a process (0 once it is gone).
cpu_of() {
    awk '{ printf "%d\n", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

run_one() {
    t=$1
    log="$here/logs/$t.log"
    corpus="$here/corpus/$t"
    mkdir -p "$corpus" "$here/artifacts/$t"
    before=$(ls "$corpus" | wc -l)
    # shellcheck disable=SC2046
    nice -n 19 "$bin/$t" "$corpus" -max_len="$(max_len "$t")" $(extra "$t") \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$here/artifacts/$t/" >"$log" 2>&1 &
    pid=$!
    used=0
    while kill -0 "$pid" 2>/dev/null; do
        now=$(cpu_of "$pid")
        [ "$now" -gt "$used" ] && used=$now
        if [ "$used" -ge "$cpu" ]; then
            kill -INT "$pid" 2>/dev/null || true
            break
        fi
        sleep 5
    done
    wait "$pid" 2>/dev/null || true
    # Minimise: keep the smallest set of inputs with the same features.
    min="$here/corpus/.$t.min"
    rm -rf "$min"
    mkdir -p "$min"
    nice -n 19 "$bin/$t" -merge=1 -max_len="$(max_len "$t")" "$min" "$corpus" \
        >>"$log" 2>&1 || true
    if [ "$(ls "$min" | wc -l)" -gt 0 ]; then
        rm -rf "$corpus"
        mv "$min" "$corpus"
    else
        rm -rf "$min"
    fi
    after=$(ls "$corpus" | wc -l)
    size=$(( $(cat "$corpus"/* 2>/dev/null | wc -c) / 1024 ))
    # the fuzzer's last status line (the merge prints lines of its own)
    stats=$(awk '/^#[0-9]+\t/ { last = $0 } /^stat::number_of_executed_units/ { print last; exit }' "$log")
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    crashes=$(ls "$here/artifacts/$t" | wc -l)
    printf '%-12s cpu %ss  executions %s  last: %s  corpus %s -> %s (%s KB)  artifacts %s\n' \
        "$t" "$used" "${execs:-?}" "$stats" "$before" "$after" "$size" "$crashes"
}

running=0
for t in $targets; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n 2>/dev/null || wait
        running=$((running - 1))
    fi
done
wait
