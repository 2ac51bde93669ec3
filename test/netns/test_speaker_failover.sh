#!/usr/bin/env bash
# `lbprov speaker` end to end: three node namespaces run real speakers
# (ARP over AF_PACKET, CAP_NET_RAW only) against the fake API server in the
# lan namespace; the client's own kernel shows where the VIP lands.
#   - the VIP reaches the node the speakers agree owns it, and only one owns it
#     (IPv4 with ARP, IPv6 with NDP);
#   - SIGKILL of the owner's speaker: the client reaches the VIP through the
#     next owner within 2 s; SIGTERM: the same, faster, and the Lease is released;
#   - externalTrafficPolicy Local: only the node with the endpoint announces,
#     moving the endpoint moves the VIP;
#   - the API server stops: announcements go on (the client re-resolves the
#     VIP with ARP again and again and always reaches the same owner).
# shellcheck source=test/netns/lib.sh
. "$(dirname "$0")/lib.sh"

NODES=(node1 node2 node3)
VIPL=192.168.77.101

ms_since() {
    echo $((($(date +%s%N) - $1) / 1000000))
}
one_owner() {
    local n=0 h
    for h in "${NODES[@]}"; do
        [ -n "${SPID[$h]:-}" ] && owns "$h" "$1" && n=$((n + 1))
    done
    [ $n -eq 1 ]
}
# lands_elsewhere VIP NOT: the client's next connection lands on a node other than NOT.
lands_elsewhere() {
    local got
    got=$(connect client "$1" "$PORT" 300 2>/dev/null) || return 1
    [ -n "$got" ] && [ "$got" != "$2" ]
}

standard_lan
for h in "${NODES[@]}"; do
    ip -n "$(ns "$h")" addr add "$VIPL/32" dev lo
done
lan_api
kube_nodes
cat >"$WORK/pools.yaml" <<YAML
pools:
  - name: lan
    addresses: [192.168.77.100-192.168.77.120]
  - name: lan6
    addresses: [fd00:77::100-fd00:77::1ff]
YAML
kube_service web "$VIP4" Cluster
kube_endpoints web node1 node2 node3
for h in "${NODES[@]}"; do
    speaker "$h" --pool-config "$WORK/pools.yaml"
done

want=$(rank "$VIP4" | head -n 1)
wait_until 15 owns "$want" "$VIP4" || fail "$want (rendezvous winner) does not own $VIP4"
one_owner "$VIP4" || fail "more than one speaker owns $VIP4"
wait_until 10 reaches "$VIP4" "$want" || fail "client does not reach $VIP4 through $want"
log "$VIP4 owned by $want, and the client reaches it there"

log "IPv6: the same election, answered with NDP"
kube_service web6 "$VIP6" Cluster
kube_endpoints web6 node1 node2 node3
want6=$(rank "$VIP6" | head -n 1)
wait_until 15 reaches "$VIP6" "$want6" || fail "client does not reach $VIP6 through $want6"
one_owner "$VIP6" || fail "more than one speaker owns $VIP6"
echo "IPv6: $VIP6 reached through $want6"

log "SIGKILL the owner's speaker"
next=$(rank "$VIP4" | sed -n 2p)
t0=$(date +%s%N)
kill -KILL "${SPID[$want]}"
wait_until 10 lands_elsewhere "$VIP4" "$want" || fail "no takeover after SIGKILL"
kill_ms=$(ms_since "$t0")
wait "${SPID[$want]}" 2>/dev/null || true
SPID[$want]=
reaches "$VIP4" "$next" || fail "after SIGKILL the client reached $(connect client "$VIP4" "$PORT"), want $next"
owns "$next" "$VIP4" || fail "$next does not say it owns $VIP4"
echo "SIGKILL: the client reached $VIP4 through $next after $kill_ms ms"
[ "$kill_ms" -le 2000 ] || fail "SIGKILL takeover took $kill_ms ms (bound 2000)"

log "the speaker comes back and takes its VIP back"
speaker "$want" --pool-config "$WORK/pools.yaml"
wait_until 15 reaches "$VIP4" "$want" || fail "$want did not take $VIP4 back"
wait_until 5 one_owner "$VIP4" || fail "two owners after the restart"

log "SIGTERM the owner's speaker"
t0=$(date +%s%N)
kill -TERM "${SPID[$want]}"
wait_until 10 lands_elsewhere "$VIP4" "$want" || fail "no takeover after SIGTERM"
term_ms=$(ms_since "$t0")
rc=0
wait "${SPID[$want]}" || rc=$?
stop_ms=$(ms_since "$t0")
SPID[$want]=
[ $rc -eq 0 ] || fail "speaker on $want exited with $rc"
[ "$stop_ms" -le 2000 ] || fail "speaker on $want took $stop_ms ms to exit"
kapi GET "/apis/coordination.k8s.io/v1/namespaces/lbprov-system/leases/lbprov-speaker-$want" |
    grep -q '"holderIdentity":""' || fail "the Lease of $want was not released"
reaches "$VIP4" "$next" || fail "after SIGTERM the client did not reach $next"
echo "SIGTERM: the client reached $VIP4 through $next after $term_ms ms (exit after $stop_ms ms)"
[ "$term_ms" -le 1000 ] || fail "SIGTERM takeover took $term_ms ms (bound 1000)"
speaker "$want" --pool-config "$WORK/pools.yaml"
wait_until 15 reaches "$VIP4" "$want" || fail "$want did not take $VIP4 back"

log "externalTrafficPolicy Local: the endpoints decide"
read -r lwin lsecond lthird <<<"$(rank "$VIPL" | tr '\n' ' ')"
kube_service loc "$VIPL" Local
kube_endpoints loc "$lthird"
wait_until 15 reaches "$VIPL" "$lthird" || fail "Local: $VIPL not through $lthird (its only endpoint)"
one_owner "$VIPL" || fail "Local: more than one owner"
owns "$lwin" "$VIPL" && fail "Local: $lwin announces without an endpoint"
kube_endpoints loc "$lsecond"
wait_until 15 reaches "$VIPL" "$lsecond" || fail "Local: the VIP did not follow the endpoint to $lsecond"
wait_until 5 one_owner "$VIPL" || fail "Local: two owners after the move"
echo "Local: $VIPL followed its endpoint from $lthird to $lsecond"

log "the API server stops: announcements continue"
owner=$(owner_of "$VIP4" "${NODES[@]}")
kill -KILL "$API_PID"
t0=$(date +%s%N)
frozen=0
# Past every Lease's expiry (3 s) and the cut-off rule (~5.6 s): the client
# forgets the VIP's MAC each time, so every connection needs a fresh ARP answer.
while [ "$(ms_since "$t0")" -lt 7500 ]; do
    ip -n "$(ns client)" neigh flush dev eth0
    got=$(connect client "$VIP4" "$PORT" 1000) || fail "no answer for $VIP4 $(ms_since "$t0") ms into the outage"
    [ "$got" = "$owner" ] || fail "$VIP4 reached $got during the outage, want $owner"
    if [ $frozen -eq 0 ] && nsx "$owner" curl -sf http://127.0.0.1:7472/debug/owned | grep -q '"frozen":true'; then
        frozen=1
    fi
    sleep 0.2 # sampling period of the check
done
[ $frozen -eq 1 ] || fail "the owner never reported itself frozen"
one_owner "$VIP4" || fail "ownership changed during the outage"
echo "API down: $VIP4 answered by $owner throughout"
echo PASS
