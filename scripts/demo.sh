#!/usr/bin/env bash
# The main job until the lab exists: a datastore round trip on the embedded
# store. Applies examples/ippool.yaml, reads it back, and shows the defaults
# Tortie filled in.
set -euo pipefail
cd "$(dirname "$0")/.."
export TORTIE_DATASTORE="${TORTIE_DATASTORE:-sqlite:/var/lib/tortie/demo.db}"
tortie() { node bin/tortie "$@"; }

echo "\$ tortie apply -f examples/ippool.yaml"
tortie apply -f examples/ippool.yaml
echo
echo "\$ tortie get ippools -o wide"
tortie get ippools -o wide
echo
echo "\$ tortie get ippool default-ipv4-ippool -o yaml"
tortie get ippool default-ipv4-ippool -o yaml
echo
echo "Datastore: $TORTIE_DATASTORE (set TORTIE_DATASTORE to use another, e.g. etcd://127.0.0.1:2379)"
