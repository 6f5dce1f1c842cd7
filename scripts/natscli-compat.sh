#!/usr/bin/env bash
# Runs every `nats kv` verb of the nats CLI against cairn and against
# nats-server and diffs what the CLI shows (timestamps, durations, sizes,
# ports and the cluster/leader lines normalized away).
#
#   scripts/natscli-compat.sh NATS_CLI CAIRN_URL NATS_SERVER_URL
#
# The nats CLI is not available from this project's package sources (the Go
# module proxy refuses github.com/nats-io/natscli), so this is run by hand
# with a CLI built from its source; it is not part of `make test`.
set -euo pipefail
cli=$1 cairn=$2 ref=$3

run() {
  local server=$1
  step() {
    echo "### ${*}"
    "$cli" -s "$server" --timeout 5s "$@" 2>&1 | sed -E \
      -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+Z?( [+-][0-9]{4} UTC)?/<time>/g' \
      -e 's/[0-9.]+(ms|µs|s)( ago)?/<dur>/g' -e 's/[0-9]+(\.[0-9]+)? ?(B|KiB) /<size> /g' \
      -e '/^ +(Name|Leader):/d'
    echo "exit=${PIPESTATUS[0]}"
  }
  step kv add clitest --history 3 --description "cli test"
  step kv put clitest eu.1 one
  step kv put clitest eu.1 two
  step kv get clitest eu.1
  step kv get clitest eu.1 --raw
  step kv create clitest eu.1 nope
  step kv create clitest eu.2 fresh
  step kv update clitest eu.2 updated 99
  step kv update clitest eu.2 updated 3
  step kv history clitest eu.1
  step kv del clitest eu.1 -f
  step kv get clitest eu.1
  step kv purge clitest eu.2 -f
  step kv ls
  step kv ls clitest
  echo "### kv watch (3 s)"; timeout 3 "$cli" -s "$server" kv watch clitest 2>&1 | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+Z?/<time>/g' || true
  step kv info clitest
  step kv rm clitest -f
  step kv ls
}

diff <(run "$ref") <(run "$cairn") && echo "nats CLI: identical output and exit status on cairn and nats-server"
