#!/usr/bin/env bash
# Runs one fuzz target over its corpus, then fuzzes from there.
#
#   run.sh --bin DIR --work DIR [--ci] TARGET [SECONDS]
#
# Seeds: test/fuzz/corpus/TARGET (in the repository: hand-written inputs and
# every crash ever found), plus, read in place and never copied, the recorded
# cloud responses under $LBP_SHARED_TESTDATA that suit the target. New inputs
# the fuzzer finds go to WORK/TARGET, crashes to WORK/TARGET-crash-*.
# --ci: a fresh WORK/TARGET each time and SECONDS defaults to
# LBP_FUZZ_CI_SECONDS (2), so the test suite's cost stays fixed.
# Exit status: 0 when nothing crashed, leaked or broke a property.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin= work= ci=false
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) bin=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --ci) ci=true; shift ;;
    *) break ;;
    esac
done
[ -n "$bin" ] && [ -n "$work" ] && [ $# -ge 1 ] || {
    echo "usage: run.sh --bin DIR --work DIR [--ci] TARGET [SECONDS]" >&2
    exit 2
}
t=$1
secs=${2:-$($ci && echo "${LBP_FUZZ_CI_SECONDS:-2}" || echo 60)}
exe=$bin/fuzz_$t
[ -x "$exe" ] || { echo "run.sh: no fuzz target $exe (built?)" >&2; exit 2; }

data=${LBP_SHARED_TESTDATA:-$here/../../../shared/testdata}
dict=
extra=()
case "$t" in
kube_* | metallb | mock_state | rest | token | aws_creds | gce | azure | cloudstack) dict=json ;;
aws_xml) dict=xml ;;
pools_yaml | kubeconfig) dict=yaml ;;
esac
case "$t" in
aws_xml) extra+=("$data/recorded/aws") ;;
kube_decode) extra+=("$here/../data/kube") ;;
rest) extra+=("$data/recorded/gce" "$data/recorded/cloudstack" "$data/recorded/azure") ;;
gce) extra+=("$data/recorded/gce") ;;
cloudstack) extra+=("$data/recorded/cloudstack") ;;
esac

mkdir -p "$work"
corpus=$work/$t
$ci && rm -rf "$corpus"
mkdir -p "$corpus"
dirs=("$corpus" "$here/corpus/$t")
for d in "${extra[@]}"; do
    [ -d "$d" ] && dirs+=("$d")
done
args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536
    -print_final_stats=1 -artifact_prefix="$work/$t-crash-")
[ -n "$dict" ] && args+=(-dict="$here/dict/$dict.dict")
# Leaks are failures; halt at the first report so the input is kept.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$exe" "${args[@]}" "${dirs[@]}"
