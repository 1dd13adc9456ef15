#!/usr/bin/env bash
# Runs the real-client checks (kcat, confluent-kafka-python, kafka-python)
# against a fresh broker on 127.0.0.1:9092 in a temp dir.
# Needs: apt-get install -y kcat python3-confluent-kafka python3-kafka
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
go build -o "$tmp/samsa" ./cmd/samsa
"$tmp/samsa" server --override log.dirs="$tmp/data" >"$tmp/broker.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do kcat -b 127.0.0.1:9092 -L -m 1 >/dev/null 2>&1 && break; sleep 0.1; done

kcat -b 127.0.0.1:9092 -L
printf 'k1:hello\nk2:world\n' | kcat -b 127.0.0.1:9092 -P -t kcat-check -K:
for z in gzip snappy lz4 zstd; do echo "via-$z" | kcat -b 127.0.0.1:9092 -P -t kcat-check -z "$z"; done
got=$(kcat -b 127.0.0.1:9092 -C -t kcat-check -o beginning -e -q | wc -l)
[ "$got" = 6 ] || { echo "kcat consumed $got records, want 6"; exit 1; }
echo "kcat OK"
/usr/bin/python3 scripts/clients/confluent_kafka_check.py
/usr/bin/python3 scripts/clients/kafka_python_check.py
