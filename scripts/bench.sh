#!/bin/bash
# Runs wcbridge's benchmarks on a real MariaDB and prints medians of several
# runs (benchstat). The figures in docs/BENCHMARKS.md come from this script.
#
#   WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' scripts/bench.sh [count]
#
# Run it on an otherwise idle machine: every figure is compared with a
# baseline measured in the same run (the simulator alone, the bare-write
# floor), but the absolute numbers move with the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${WCBRIDGE_TEST_MYSQL_DSN:?set WCBRIDGE_TEST_MYSQL_DSN to a MariaDB/MySQL server the benchmarks may create databases on}"
count=${1:-5}
out=${BENCH_OUT:-bench-$(date +%Y%m%d-%H%M%S).txt}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(go version | cut -d' ' -f3), $(mysql -uroot -h127.0.0.1 -N -e 'SELECT VERSION()' 2>/dev/null || echo 'MariaDB')" | tee "$out"
go test -run '^$' -bench 'Checkout' -benchtime 300x -count "$count" ./cmd/wcbridge/ | tee -a "$out"
go test -run '^$' -bench 'Storm' -benchtime 400x -count "$count" ./cmd/wcbridge/ | tee -a "$out"
go test -run '^$' -bench 'Reconcile100k' -benchtime 20x -count "$count" ./cmd/wcbridge/ | tee -a "$out"

echo
echo "== medians (benchstat)"
go run golang.org/x/perf/cmd/benchstat@latest "$out"
