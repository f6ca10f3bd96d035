#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/cluster/start_line.sh DIR N WORD: the --mark command that holds several load
# generators at one start line (bench/cluster/cluster.sh). With WORD "start" it marks its
# arrival in DIR and waits until N have arrived (at most 20,000 looks, about a minute); any
# other WORD returns at once.
[ "$3" = start ] || exit 0
mktemp "$1/at.XXXXXX" >/dev/null || exit 1
i=0
while [ "$(find "$1" -name 'at.*' | wc -l)" -lt "$2" ]; do
    i=$((i + 1))
    [ "$i" -le 20000 ] || exit 1
    sleep 0.001
done
