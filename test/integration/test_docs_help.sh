#!/usr/bin/env bash
# test_docs_help.sh LBPROV OPERATIONS_MD — every subcommand's --help is the
# text docs/operations.md shows for it (the fenced block under
# "### lbprov <command>"), so the flag reference cannot drift from the
# binary. On a difference it prints the diff: paste the --help output in.
# The list of built-in clouds depends on LBP_CLOUDS, so it is not compared.
set -euo pipefail
lbprov=$1
doc=$2
status=0
for cmd in controller speaker status version; do
    documented=$(awk -v h="### lbprov $cmd" '
        $0 == h { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$doc")
    if [ -z "$documented" ]; then
        echo "docs: no block for 'lbprov $cmd --help' under '### lbprov $cmd' in $doc"
        status=1
        continue
    fi
    clouds='s/(built in:[^)]*)/(built in: ...)/'
    if ! diff -u <(printf '%s\n' "$documented" | sed "$clouds") <("$lbprov" "$cmd" --help | sed "$clouds") \
        --label "$doc (lbprov $cmd)" --label "lbprov $cmd --help"; then
        status=1
    fi
done
[ $status -eq 0 ] && echo "ok: docs match --help for every subcommand"
exit $status
