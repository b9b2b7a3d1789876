#!/usr/bin/env bash
# The demo chain, one task at a time (scripts/demo_dags_test.sh), with the `aws` store backend: DynamoDB tables and an S3 bucket on
# a local moto_server (no real AWS, dummy credentials). Run it through `make demo-aws`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${HAZFLOW_MOTO_PORT:-5055}"
mkdir -p "$root/var/logs"
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$root/var/logs/moto_server.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done
echo "== moto_server on http://127.0.0.1:$port (DynamoDB and S3; log: var/logs/moto_server.log)"

export HAZFLOW_STORE_BACKEND=aws
export HAZFLOW_STORE_ROOT="s3://hazflow-demo/store"
export HAZFLOW_AWS_STAGE=demo
export HAZFLOW_AWS_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=ap-southeast-2
bash "$root/scripts/demo_dags_test.sh"
echo "== tables on moto_server: $("$root/.venv/bin/python" -c "
import boto3; print(', '.join(boto3.client('dynamodb', endpoint_url='$HAZFLOW_AWS_ENDPOINT').list_tables()['TableNames']))")"
echo "== moto_server keeps everything in memory: it is gone when this script ends"
