#!/usr/bin/env bash
# Ownership moves from node2 to node1: node1's gratuitous ARPs rewrite the
# client's existing neighbour entry (no flush, no traffic from the client),
# and the client's next connection lands on node1.
# shellcheck source=test/netns/lib.sh
. "$(dirname "$0")/lib.sh"

standard_lan
mac1=$(mac_of node1 eth0)
mac2=$(mac_of node2 eth0)

announce node2 --vip "$VIP4"
[ "$(connect client "$VIP4" "$PORT")" = node2 ] || fail "VIP not on node2 first"
neigh_is client "$VIP4" eth0 "$mac2" || fail "client did not learn node2's MAC"

log "move: stop node2's announcer, start node1's"
unannounce node2
announce node1 --vip "$VIP4"
wait_until 6 neigh_is client "$VIP4" eth0 "$mac1" ||
    fail "client's entry not updated by gratuitous ARP: $(neigh_mac client "$VIP4" eth0)"
ip -n "$(ns client)" neigh show "$VIP4"

said=$(connect client "$VIP4" "$PORT")
[ "$said" = node1 ] || fail "after the move the VIP reached '$said', want node1"
unannounce node1
[ "$(counter node1 gratuitous_sent)" -ge 2 ] || fail "node1 counted no gratuitous ARPs"
echo PASS
