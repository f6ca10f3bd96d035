# SPDX-License-Identifier: MIT
# deadline.sh: deadline.h for the shell tests (source it). Every wait ends at a
# deadline on the clock, never after a count of sleeps; VERANI_TEST_TIME_SCALE
# (a positive integer, default 1) multiplies every bound.
#
#   end=$(dl_after 10000)            # 10 s from now (scaled), in ms
#   while ! ready; do dl_passed "$end" && fail "not ready"; sleep 0.05; done

# Milliseconds now (CLOCK_REALTIME through date(1): no shell reads the monotonic
# clock; the bounds here are seconds, far above any clock step NTP makes).
dl_now_ms() { date +%s%3N; }

# The deadline MS milliseconds (scaled) from now.
dl_after() {
    local scale="${VERANI_TEST_TIME_SCALE:-1}"
    case "$scale" in ''|*[!0-9]*|0) scale=1 ;; esac
    echo $(( $(dl_now_ms) + $1 * scale ))
}

# Succeeds once the deadline END has passed.
dl_passed() { [ "$(dl_now_ms)" -ge "$1" ]; }
