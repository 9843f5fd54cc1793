#!/usr/bin/env bash
# make run: the offline part of cdrgw on the bundled example. The gateway
# server (cdrgw serve) replaces this once it exists.
set -euo pipefail
bin=$1 config=$2
echo "== cdrgw validate -c $config"
"$bin" validate -c "$config"
echo
echo "== cdrgw normalize testdata/samples/teams-batch.json"
"$bin" normalize testdata/samples/teams-batch.json
echo
echo "== cdrgw render -c $config -w local testdata/samples/teams-batch.json"
"$bin" render -c "$config" -w local testdata/samples/teams-batch.json
