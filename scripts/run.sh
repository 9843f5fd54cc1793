#!/usr/bin/env bash
# make run: starts the gateway on the embedded SQLite store with the example
# config, until Ctrl-C. Post the bundled sample to it from another terminal:
#   curl -s -X POST --data-binary @testdata/samples/teams-batch.json http://127.0.0.1:8080/ingest/teams
set -euo pipefail
bin=$1 config=$2
"$bin" validate -c "$config"
exec "$bin" serve -c "$config"
