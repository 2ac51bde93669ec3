#!/usr/bin/env bash
# With node2 announcing the VIP, the client's own kernel resolves it to node2
# and only node2 answers ARP; releasing the VIP stops the answers at once.
# shellcheck source=test/netns/lib.sh
. "$(dirname "$0")/lib.sh"

standard_lan
mac2=$(mac_of node2 eth0)

log "control: nobody announces, so nobody (not even a node's kernel) answers"
got=$(arping_macs client eth0 "$VIP4" 1 1)
[ -z "$got" ] || fail "ARP for $VIP4 answered without an announcer: $got"

announce node2 --vip "$VIP4"
log "the announcer runs with CAP_NET_RAW (bit 13) and nothing else"
grep -q '^CapEff:[[:space:]]*0000000000002000$' "/proc/${APID[node2]}/status" ||
    fail "unexpected capabilities: $(grep '^Cap' "/proc/${APID[node2]}/status")"
capture client eth0 'arp and arp[6:2] = 2'

log "arping from the client: every reply carries node2's MAC ($mac2)"
macs=$(arping_macs client eth0 "$VIP4" 3 5)
[ "$(echo "$macs" | grep -c .)" -ge 3 ] || fail "expected 3 replies, got: $macs"
others=$(echo "$macs" | grep -v -x "$mac2" || true)
[ -z "$others" ] || fail "replies from other MACs: $others"

log "TCP to the VIP reaches node2"
said=$(connect client "$VIP4" "$PORT")
[ "$said" = node2 ] || fail "VIP answered by '$said', want node2"
neigh_is client "$VIP4" eth0 "$mac2" || fail "client neighbour entry: $(neigh_mac client "$VIP4" eth0)"

log "capture: ARP replies for the VIP came from node2 only"
wait_until 5 lines_at_least "$WORK/cap-client.txt" "Reply $VIP4 is-at" 3 ||
    fail "capture saw fewer than 3 replies"
capture_stop
bad=$(grep "Reply $VIP4 is-at" "$WORK/cap-client.txt" | grep -v "is-at $mac2" || true)
[ -z "$bad" ] || fail "other nodes replied: $bad"

log "release: once set_vips returns, the VIP is no longer answered"
release node2
got=$(arping_macs client eth0 "$VIP4" 1 1)
[ -z "$got" ] || fail "released VIP still answered: $got"

unannounce node2
[ "$(counter node2 replies_sent)" -ge 3 ] || fail "replies_sent below 3"
[ "$(counter node2 requests_received)" -ge 3 ] || fail "requests_received below 3"
[ "$(counter node2 gratuitous_sent)" -ge 2 ] || fail "no gratuitous ARPs counted"
echo PASS
