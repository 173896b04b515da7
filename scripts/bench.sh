#!/bin/bash
# Runs wcbridge's benchmarks on a real MariaDB and prints, for each figure,
# the baseline measured in the same run beside it (medians of several runs).
# The figures in docs/BENCHMARKS.md come from this script.
#
#   WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' scripts/bench.sh [count] [benchmarks]
#
# count is how many times each benchmark runs (default 3); benchmarks is a
# -bench pattern (default: all of them). Absolute figures move with the
# machine's load, which is printed; compare each figure with its baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${WCBRIDGE_TEST_MYSQL_DSN:?set WCBRIDGE_TEST_MYSQL_DSN to a MariaDB/MySQL server the benchmarks may create databases on}"
count=${1:-3}
only=${2:-.}
out=${BENCH_OUT:-bench-$(date +%Y%m%d-%H%M%S).txt}

machine() {
	echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(go version | cut -d' ' -f3), $(mysql -uroot -h127.0.0.1 -N -e 'SELECT VERSION()' 2>/dev/null || echo 'MariaDB')"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
}
machine | tee "$out"

failed=()
run() { # pattern benchtime
	if echo "$1" | grep -Eq "$only"; then
		# A failing benchmark is reported at the end; the others still run.
		go test -run '^$' -bench "^$1\$" -benchtime "$2" -count "$count" -timeout 0 ./cmd/wcbridge/ | tee -a "$out" || failed+=("$1")
		echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (after $1)" | tee -a "$out"
	fi
}
run 'BenchmarkCheckout' 300x
run 'BenchmarkStorm' 400x
run 'BenchmarkStatementShapes' 400x
run 'BenchmarkLatency' 400x
run 'BenchmarkReconcile' 20x
run 'BenchmarkBurst' 5000x

# Medians of each benchmark's metrics, picked out figure by baseline.
echo
echo "== figures beside their baselines (medians of $count runs; raw results in $out)"
awk '
function median(key,   n, i, j, v, t) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	if (n % 2) return v[(n + 1) / 2]
	return (v[n / 2] + v[n / 2 + 1]) / 2
}
function m(b, unit) { return median(b SUBSEP unit) }
function line(label, fig, unit, base, bunit, target) {
	if (fig == "") return
	printf "  %-44s %10.4g %-16s", label, fig, unit
	if (base != "") printf " baseline %10.4g %-16s ratio %6.3f", base, bunit, (base != 0 ? fig / base : 0)
	if (target != "") printf "  target %s", target
	printf "\n"
}
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) { k = name SUBSEP $(i + 1); cnt[k]++; val[k, cnt[k]] = $i }
	seen[name] = 1
}
END {
	for (c = 1; c <= 3; c++) {
		split("1 8 64", cs, " "); b = "BenchmarkStorm/c=" cs[c]
		if (!(b in seen)) continue
		tgt = (cs[c] == 8) ? ">= 0.35 of the floor (stretch 0.5)" : ">= 0.5 of the floor"
		line("storm c=" cs[c] ": orders paid/s", m(b, "orders_paid/s"), "orders/s", m(b, "floor_orders/s"), "floor tx/s", tgt)
		line("storm c=" cs[c] ": callback answer p99", m(b, "answer_p99_ms"), "ms", m(b, "floor_tx_p99_ms"), "floor tx p99 ms", (cs[c] == 8) ? "<= 25 ms" : "")
		line("storm c=" cs[c] ": round trips per callback", m(b, "round_trips/cb"), "", m(b, "floor_round_trips/tx"), "floor per tx", "<= 12")
		line("storm c=" cs[c] ": write commits per callback", m(b, "commits/cb"), "", m(b, "floor_commits/tx"), "floor per tx", "<= 1")
		line("  of which while callbacks arrive, per callback", m(b, "commits_while_arriving/cb"), "", "", "", "")
		line("  and after the last answer, per storm of 200", m(b, "commits_after_last_cb"), "", "", "", "")
		line("storm c=" cs[c] ": sidecar CPU per callback", m(b, "sidecar_cpu_ms/cb"), "ms", "", "", "")
		line("storm c=" cs[c] ": database CPU per callback", m(b, "db_cpu_ms/cb"), "ms", m(b, "floor_db_cpu_ms/tx"), "ms per floor tx", "")
		line("storm c=" cs[c] ": callbacks sent again (503)", m(b, "callbacks_resent"), "", "", "", "")
	}
	for (c = 1; c <= 3; c++) {
		split("1 8 64", cs, " "); b = "BenchmarkStatementShapes/c=" cs[c]
		if (!(b in seen)) continue
		split("each grouped rows inserts", ss, " ")
		for (k = 1; k <= 4; k++) {
			line("shapes c=" cs[c] ": " ss[k] ", orders/s", m(b, ss[k] "_orders/s"), "orders/s", m(b, "floor_orders/s"), "floor orders/s", "")
			line("shapes c=" cs[c] ": " ss[k] ", database CPU per order", m(b, ss[k] "_db_cpu_ms/order"), "ms", m(b, "floor_db_cpu_ms/order"), "ms per floor order", "")
		}
	}
	b = "BenchmarkLatency"
	if (b in seen) {
		line("latency 150+150 ms, c=8: orders paid/s", m(b, "orders_paid/s"), "orders/s", m(b, "baseline_orders/s"), "8 fixed workers", ">= 400")
		line("latency 150+150 ms, c=8: orders finished/s", m(b, "orders_finished/s"), "orders/s", m(b, "baseline_orders/s"), "8 fixed workers", ">= 50")
		line("  against WooCommerce payment_complete(), 1 client", m(b, "orders_finished/s"), "orders/s", 7.9, "(WooCommerce, apart)", "> 5x")
		line("  against WooCommerce payment_complete(), 4 clients", m(b, "orders_finished/s"), "orders/s", 13.6, "(WooCommerce, apart)", "")
		line("latency: last finishing after last payment", m(b, "finish_lag_s"), "s", "", "", "")
		line("latency: TCP connections to the status API", m(b, "status_api_tcp_conns"), "", 400, "calls", "")
		line("latency: WordPress POSTs per order", m(b, "wordpress_posts/order"), "", 1, "one per order", "")
	}
	b = "BenchmarkReconcile/payments=1000k"
	if (b in seen) {
		line("reconcile pass of 100 at 1,000,000", m(b, "ms/pass"), "ms", m(b, "ms/pass_at_100k"), "ms at 100,000", "<= 40 ms")
		line("reconcile: rows read per idle tick", m(b, "idle_tick_rows_read"), "rows", "", "", "O(1)")
		line("reconcile: round trips per idle tick", m(b, "idle_tick_round_trips"), "", "", "", "")
	}
	b = "BenchmarkBurst"
	if (b in seen) {
		line("burst of 5,000 at c=256: peak RSS", m(b, "rss_peak_MB"), "MB", m(b, "rss_idle_MB"), "MB idle", "<= 40 MB")
		line("burst: orders paid/s", m(b, "orders_paid/s"), "orders/s", "", "", "")
		line("burst: orders finished/s", m(b, "orders_finished/s"), "orders/s", "", "", "")
		line("burst: receipt to paid p99", m(b, "paid_p99_ms"), "ms", "", "", "")
		line("burst: callbacks sent again (503)", m(b, "callbacks_resent"), "", "", "", "")
	}
	b = "BenchmarkCheckout/sidecar"
	if (b in seen) line("checkout through the sidecar p50", m(b, "checkout_p50_ms"), "ms", "", "", "")
}' "$out"
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]} (see $out)"
	exit 1
fi
