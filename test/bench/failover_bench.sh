#!/usr/bin/env bash
# failover_bench.sh BUILD_DIR [RUNS] — how long a client loses a bare-metal
# VIP when the owner's speaker dies. Three node namespaces run `lbprov
# speaker` at default settings against the fake API server in the lan
# namespace; each run kills the owner's speaker (SIGKILL, then separately
# SIGTERM) and times, from the signal, the client's first TCP connection
# that lands on the new owner. The killed speaker is restarted and takes
# the VIP back between runs. SIGSTOP stands for a hung process or frozen
# node: its socket stays bound, so no ICMP tells the peers, only the missed
# heartbeats do. Prints every run, then median and max. Needs root. See
# README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: failover_bench.sh BUILD_DIR [RUNS]}" && pwd)
RUNS=${2:-10}
export LBP_ANNOUNCE=$build/test/netns/lbp-announce
export LBP_TCP_ECHO=$build/test/netns/tcp-echo-name
export LBPROV=$build/cmd/lbprov
export LBP_FAKE_API=${LBP_FAKE_API:-$build/test/fakes/apiserver/fake-apiserver}
# shellcheck source=test/netns/lib.sh
. "$here/../netns/lib.sh"

NODES=(node1 node2 node3)
standard_lan
lan_api
for i in 1 2 3; do
    kube_node "node$i" "192.168.77.1$i"
done
printf 'pools:\n  - name: lan\n    addresses: [192.168.77.100-192.168.77.120]\n' >"$WORK/pools.yaml"
kube_service web "$VIP4" Cluster
kube_endpoints web node1 node2 node3
for h in "${NODES[@]}"; do
    speaker "$h" --pool-config "$WORK/pools.yaml"
done
wait_until 15 owner_of "$VIP4" "${NODES[@]}" || fail "nobody owns $VIP4"
owner=$(owner_of "$VIP4" "${NODES[@]}")
wait_until 10 reaches "$VIP4" "$owner" || fail "the client does not reach $owner"

# One run: signal the owner's speaker, spin on connect (100 ms connect
# timeout, no pause) until a connection lands elsewhere; sets RUN_MS. (Not
# run in a subshell: the restarted speaker's pid must stay in SPID/PIDS.)
RUN_MS=
run() {
    local sig=$1 t0 got
    t0=$(date +%s%N)
    kill "-$sig" "${SPID[$owner]}"
    while :; do
        got=$(nsx client "$LBP_TCP_ECHO" connect "$VIP4" "$PORT" 100 2>/dev/null) || got=
        [ -n "$got" ] && [ "$got" != "$owner" ] && break
        [ $((($(date +%s%N) - t0) / 1000000000)) -lt 20 ] || fail "no takeover within 20 s"
    done
    RUN_MS=$((($(date +%s%N) - t0) / 1000000))
    [ "$sig" != STOP ] || kill -KILL "${SPID[$owner]}"
    wait "${SPID[$owner]}" 2>/dev/null || true
    speaker "$owner" --pool-config "$WORK/pools.yaml"
    wait_until 15 reaches "$VIP4" "$owner" || fail "$owner did not take $VIP4 back"
}

stats() {
    sort -n | awk '{v[NR] = $1} END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "median %s ms, max %s ms over %d runs\n", m, v[NR], NR }'
}

for sig in KILL TERM STOP; do
    : >"$WORK/times-$sig"
    for r in $(seq 1 "$RUNS"); do
        run "$sig"
        echo "SIG$sig run $r: $RUN_MS ms"
        echo "$RUN_MS" >>"$WORK/times-$sig"
    done
done
echo "SIGKILL: $(stats <"$WORK/times-KILL")  (target <= 2000 ms)"
echo "SIGTERM: $(stats <"$WORK/times-TERM")  (target <= 200 ms)"
echo "SIGSTOP: $(stats <"$WORK/times-STOP")  (a hung speaker: missed heartbeats only)"
