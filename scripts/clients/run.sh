#!/usr/bin/env bash
# Runs the real-client checks (kcat, confluent-kafka-python, kafka-python,
# kafkajs if installed) against a fresh broker on 127.0.0.1:9092 in a temp
# dir. cmd/samsa's TestRealClients runs these and more (kcat's transactions).
# Needs: apt-get install -y kcat python3-confluent-kafka python3-kafka
# (and npm install --prefix scripts/clients for kafkajs)
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
/usr/bin/python3 scripts/clients/groups_check.py
/usr/bin/python3 scripts/clients/confluent_kafka_txn_check.py
/usr/bin/python3 scripts/clients/kafka_python_txn_check.py   # says SKIP before kafka-python 2.2
if [ -d scripts/clients/node_modules/kafkajs ]; then
  for s in kafkajs_check.js kafkajs_groups_check.js kafkajs_txn_check.js; do node "scripts/clients/$s"; done
fi
