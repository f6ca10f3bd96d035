# SPDX-License-Identifier: MIT
# What the tables of bench/run.sh and bench/cluster/cluster.sh share: fields of a RESULT line
# (key=value words), and medians with their spread over the runs.
#   kv(name)        the value of name= on the current line ("" when absent)
#   add(key, v)     one more value of key
#   med(key)        its median ("-" when none); lo[key], hi[key] its smallest and largest
#   show(key, fmt)  "median (lo..hi)" in fmt, or the one value, or "-"
function kv(name,    i, p) {
    for (i = 2; i <= NF; i++) {
        p = index($i, "=")
        if (substr($i, 1, p - 1) == name) return substr($i, p + 1)
    }
    return ""
}
function add(key, v) { vals[key, ++cnt[key]] = v + 0 }
function med(key,    n, i, j, t, a) {
    n = cnt[key]
    if (!n) return "-"
    for (i = 1; i <= n; i++) a[i] = vals[key, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo[key] = a[1]; hi[key] = a[n]
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
}
function show(key, fmt,    m) {
    m = med(key)
    if (m == "-") return "-"
    if (cnt[key] == 1) return sprintf(fmt, m)
    return sprintf(fmt " (" fmt ".." fmt ")", m, lo[key], hi[key])
}
