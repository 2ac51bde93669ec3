# shellcheck shell=bash
# lib.sh — a LAN of network namespaces for the announcer tests. Sourced by
# test_*.sh. Names carry the shell's pid so parallel runs never clash, and an
# EXIT trap removes every namespace and process this run created.
#
# Layout built by the helpers: one "lan" namespace holding bridges, and one
# namespace per host with a veth ("eth0", "eth1", ...) plugged into a bridge.
# Addresses come from 192.168.77.0/24, 192.168.78.0/24, fd00:77::/64 and
# fd00:78::/64, which exist only inside these namespaces.

set -euo pipefail

skip() {
    echo "SKIP: $*"
    exit 77
}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
log() {
    echo "--- $*"
}

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, raw sockets)"
command -v ip >/dev/null || skip "iproute2 (ip) not installed"
command -v arping >/dev/null || skip "arping (iputils-arping) not installed"
command -v tcpdump >/dev/null || skip "tcpdump not installed"
[ -x "${LBP_ANNOUNCE:-}" ] || skip "LBP_ANNOUNCE does not name the lbp-announce binary"
[ -x "${LBP_TCP_ECHO:-}" ] || skip "LBP_TCP_ECHO does not name the tcp-echo-name binary"

PFX="lbpt$$"
NSES=()
PIDS=()
WORK=$(mktemp -d /tmp/lbp-netns.XXXXXX)

cleanup() {
    local rc=$?
    set +e
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    for n in "${NSES[@]}"; do
        # Anything still running inside (a stray child) goes with its namespace.
        for p in $(ip netns pids "$n" 2>/dev/null); do
            kill -9 "$p" 2>/dev/null
        done
        ip netns del "$n" 2>/dev/null
    done
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        for f in "$WORK"/*.log; do
            [ -f "$f" ] && { echo "=== $f"; tail -n 40 "$f"; }
        done
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

ip netns add "${PFX}probe" 2>/dev/null || skip "ip netns add does not work here"
ip netns del "${PFX}probe"

ns() { echo "${PFX}$1"; }
nsx() {
    local n=$1
    shift
    ip netns exec "$(ns "$n")" "$@"
}

# wait_until SECONDS CMD...: polls CMD every 50 ms until it succeeds.
wait_until() {
    local secs=$1
    shift
    local end=$((SECONDS + secs))
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}

add_ns() {
    local n
    n=$(ns "$1")
    ip netns add "$n"
    NSES+=("$n")
    ip -n "$n" link set lo up
    # No DAD, no router solicitations: addresses are usable at once.
    nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
        net.ipv6.conf.default.router_solicitations=0
}

# lan_bridge BR: a bridge in the lan namespace. Multicast snooping is off so
# solicited-node multicast is flooded the way an unmanaged switch would.
lan_bridge() {
    [ -e "/run/netns/$(ns lan)" ] || add_ns lan
    ip -n "$(ns lan)" link add "$1" type bridge
    ip -n "$(ns lan)" link set "$1" type bridge mcast_snooping 0 stp_state 0
    ip -n "$(ns lan)" link set "$1" up
}

# plug HOST IFNAME BR ADDR4/LEN ADDR6/LEN: a veth from HOST into bridge BR.
PORTNO=0
plug() {
    local host=$1 ifname=$2 br=$3 a4=$4 a6=$5
    PORTNO=$((PORTNO + 1))
    local port="p${PORTNO}"
    ip -n "$(ns lan)" link add "$port" type veth peer name "$ifname" netns "$(ns "$host")"
    ip -n "$(ns lan)" link set "$port" master "$br" up
    ip -n "$(ns "$host")" addr add "$a4" dev "$ifname"
    ip -n "$(ns "$host")" -6 addr add "$a6" dev "$ifname" nodad
    ip -n "$(ns "$host")" link set "$ifname" up
}

mac_of() {
    nsx "$1" cat "/sys/class/net/$2/address"
}

# node_vip HOST VIP4 VIP6: the VIPs on lo, and the kernel told not to answer
# ARP for them on other interfaces (kube-proxy strictARP).
node_vip() {
    local host=$1 i
    nsx "$host" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
    for i in $(nsx "$host" ls /sys/class/net); do
        nsx "$host" sysctl -qw "net.ipv4.conf.$i.arp_ignore=1" "net.ipv4.conf.$i.arp_announce=2"
    done
    ip -n "$(ns "$host")" addr add "$2/32" dev lo
    ip -n "$(ns "$host")" -6 addr add "$3/128" dev lo
}

# serve HOST PORT: a TCP server on HOST that answers with HOST's name.
serve() {
    local host=$1 port=$2
    ip netns exec "$(ns "$host")" "$LBP_TCP_ECHO" serve "$host" "$port" >"$WORK/serve-$host.log" 2>&1 &
    PIDS+=($!)
    wait_until 5 grep -q listening "$WORK/serve-$host.log" || fail "server on $host did not start"
}

# announce HOST ARGS...: starts lbp-announce on HOST; waits for "ready".
declare -A APID
announce() {
    local host=$1
    shift
    ip netns exec "$(ns "$host")" "$LBP_ANNOUNCE" "$@" >"$WORK/announce-$host.log" 2>&1 &
    APID[$host]=$!
    PIDS+=($!)
    wait_until 5 grep -q '^ready' "$WORK/announce-$host.log" || fail "announcer on $host not ready"
}

# release HOST: SIGUSR1 makes HOST's announcer drop its VIPs; waits until it says so.
release() {
    kill -USR1 "${APID[$1]}"
    wait_until 5 grep -q '^released' "$WORK/announce-$1.log" || fail "no release on $1"
}

# unannounce HOST: SIGTERM, wait, check a quick, clean exit (sanitizers included).
unannounce() {
    local host=$1 rc=0 t0 ms
    t0=$(date +%s%N)
    kill -TERM "${APID[$host]}"
    wait "${APID[$host]}" || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ $rc -eq 0 ] || fail "announcer on $host exited with $rc"
    # The packet thread must notice the stop at once (eventfd), not at a timeout.
    [ $ms -lt 1000 ] || fail "announcer on $host took $ms ms to stop"
    grep '^exit' "$WORK/announce-$host.log"
}

# counter HOST NAME: a counter from the announcer's last stats line.
counter() {
    grep -E '^(ready|released|owned|exit) ' "$WORK/announce-$1.log" | tail -n 1 |
        tr ' ' '\n' | sed -n "s/^$2=//p"
}

# connect FROM ADDR PORT: what the server at ADDR:PORT says, seen from FROM.
connect() {
    nsx "$1" "$LBP_TCP_ECHO" connect "$2" "$3" "${4:-3000}"
}

# neigh_mac HOST ADDR DEV: the link-layer address HOST's kernel holds for ADDR.
neigh_mac() {
    ip -n "$(ns "$1")" neigh show "$2" dev "$3" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'
}
neigh_is() {
    [ "$(neigh_mac "$1" "$2" "$3")" = "$4" ]
}

# arping_macs HOST DEV ADDR COUNT DEADLINE: the MACs of every reply arping saw.
arping_macs() {
    nsx "$1" arping -c "$4" -w "$5" -I "$2" "$3" 2>&1 | tee -a "$WORK/arping.log" |
        sed -n 's/.*reply from [0-9.]* \[\([0-9A-Fa-f:]*\)\].*/\1/p' | tr 'A-F' 'a-f' || true
}

# answered HOST DEV ADDR: one ARP request for ADDR gets a reply (for wait_until;
# a $(...) in wait_until's arguments would be evaluated only once).
answered() {
    [ -n "$(arping_macs "$1" "$2" "$3" 1 1)" ]
}
unanswered() {
    ! answered "$@"
}

# lines_at_least FILE PATTERN N: FILE has N lines matching PATTERN.
lines_at_least() {
    [ "$(grep -c -- "$2" "$1")" -ge "$3" ]
}

# capture HOST DEV FILTER: tcpdump in the background; returns once listening.
capture() {
    local host=$1 dev=$2 filter=$3
    ip netns exec "$(ns "$host")" tcpdump -i "$dev" -nn -e -l -U "$filter" >"$WORK/cap-$host.txt" \
        2>"$WORK/cap-$host.err" &
    CAP_PID=$!
    PIDS+=($!)
    wait_until 5 grep -q 'listening on' "$WORK/cap-$host.err" || fail "tcpdump did not start"
}
capture_stop() {
    kill -INT "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
}

# A LAN of three nodes and a client on bridge br0 (192.168.77.0/24,
# fd00:77::/64), every node holding the VIPs on lo and serving TCP on 8080.
VIP4=192.168.77.100
VIP6=fd00:77::100
PORT=8080
standard_lan() {
    lan_bridge br0
    local i
    for i in 1 2 3; do
        add_ns "node$i"
        plug "node$i" eth0 br0 "192.168.77.1$i/24" "fd00:77::1$i/64"
        node_vip "node$i" "$VIP4" "$VIP6"
        serve "node$i" "$PORT"
    done
    add_ns client
    plug client eth0 br0 192.168.77.50/24 fd00:77::50/64
}

# ---------------------------------------------------------------- speakers
# `lbprov speaker` end to end: the fake API server runs INSIDE the lan
# namespace on the bridge's own address (a loopback listener on the host
# would be out of the node namespaces' reach), speakers run in node
# namespaces and reach it over their eth0. Needs LBPROV and LBP_FAKE_API.

API_ADDR=192.168.77.1
API_URL=
# lan_api: the fake API server on br0 in the lan namespace; writes
# $WORK/kubeconfig and creates the speakers' namespace.
lan_api() {
    [ -x "${LBPROV:-}" ] || skip "LBPROV does not name the lbprov binary"
    [ -x "${LBP_FAKE_API:-}" ] || skip "LBP_FAKE_API does not name the fake-apiserver binary"
    command -v curl >/dev/null || skip "curl not installed"
    ip -n "$(ns lan)" addr add "$API_ADDR/24" dev br0 2>/dev/null || true
    rm -f "$WORK/api.port"
    ip netns exec "$(ns lan)" "$LBP_FAKE_API" --bind "$API_ADDR" --port-file "$WORK/api.port" \
        >"$WORK/api.log" 2>&1 &
    # shellcheck disable=SC2034 # for the sourcing test (it stops the API server)
    API_PID=$!
    PIDS+=($!)
    wait_until 10 test -s "$WORK/api.port" || fail "fake API server did not start"
    API_URL="http://$API_ADDR:$(cat "$WORK/api.port")"
    cat >"$WORK/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: lan, cluster: {server: "$API_URL"}}]
users: [{name: lan, user: {}}]
contexts: [{name: lan, context: {cluster: lan, user: lan}}]
current-context: lan
KC
    kapi POST /api/v1/namespaces \
        '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"lbprov-system"}}' >/dev/null
}

# kapi METHOD PATH [BODY [CONTENT-TYPE]]: a request to the fake from the lan namespace.
kapi() {
    local ctype=${4:-application/json}
    if [ $# -ge 3 ]; then
        nsx lan curl -sS -f -X "$1" -H "Content-Type: $ctype" --data "$3" "$API_URL$2"
    else
        nsx lan curl -sS -f -X "$1" "$API_URL$2"
    fi
}

# kube_node HOST IP: a Node object for HOST with that InternalIP.
kube_node() {
    kapi POST /api/v1/nodes "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$1\"},\
\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$2\"}]}}" >/dev/null
}

# kube_nodes: Nodes node1..node3 with InternalIPs 192.168.77.11-13 (standard_lan's).
kube_nodes() {
    local i
    for i in 1 2 3; do
        kube_node "node$i" "192.168.77.1$i"
    done
}

# rank VIP: NODES ordered by SHA-256("node#vip"), lowest (the speakers' winner) first.
rank() {
    local h
    for h in "${NODES[@]}"; do
        echo "$(printf '%s#%s' "$h" "$1" | sha256sum | cut -c1-64) $h"
    done | sort | cut -d' ' -f2
}

# kube_service NAME VIP POLICY: a LoadBalancer Service holding VIP in its status.
kube_service() {
    kapi POST /api/v1/namespaces/default/services "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\
\"metadata\":{\"name\":\"$1\"},\"spec\":{\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"$3\",\
\"ports\":[{\"port\":$PORT,\"protocol\":\"TCP\"}]}}" >/dev/null
    kapi PATCH "/api/v1/namespaces/default/services/$1/status" \
        "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$2\"}]}}}" \
        application/merge-patch+json >/dev/null
}

# kube_endpoints NAME HOST...: the Service's EndpointSlice, one ready endpoint per HOST.
kube_endpoints() {
    local name=$1 eps="" h i=0
    shift
    for h in "$@"; do
        i=$((i + 1))
        eps="$eps${eps:+,}{\"addresses\":[\"10.1.0.$i\"],\"nodeName\":\"$h\",\"conditions\":{\"ready\":true}}"
    done
    local body="{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\
\"metadata\":{\"name\":\"$name-1\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"$name\"}},\
\"addressType\":\"IPv4\",\"endpoints\":[$eps]}"
    kapi PUT "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/$name-1" "$body" \
        >/dev/null 2>&1 ||
        kapi POST /apis/discovery.k8s.io/v1/namespaces/default/endpointslices "$body" >/dev/null
}

# speaker HOST ARGS...: `lbprov speaker` on HOST (node name = HOST); waits for its HTTP port.
declare -A SPID
speaker() {
    local host=$1
    shift
    ip netns exec "$(ns "$host")" "$LBPROV" speaker --node-name "$host" \
        --kubeconfig "$WORK/kubeconfig" --namespace lbprov-system \
        --http-bind-address 127.0.0.1:7472 "$@" >>"$WORK/speaker-$host.log" 2>&1 &
    # shellcheck disable=SC2034 # for the sourcing test (it signals speakers)
    SPID[$host]=$!
    PIDS+=($!)
    wait_until 10 nsx "$host" curl -sf http://127.0.0.1:7472/healthz ||
        fail "speaker on $host did not start"
}

# owns HOST VIP: HOST's speaker says it owns VIP.
owns() {
    nsx "$1" curl -sf http://127.0.0.1:7472/debug/owned | grep -q "\"ip\":\"$2\""
}
# owner_of VIP HOST...: the one HOST among those given whose speaker owns VIP.
owner_of() {
    local vip=$1 h
    shift
    for h in "$@"; do
        if owns "$h" "$vip"; then
            echo "$h"
            return 0
        fi
    done
    return 1
}
# reaches VIP WHO: the client's next connection to VIP lands on WHO.
reaches() {
    [ "$(connect client "$1" "$PORT" 500)" = "$2" ]
}
