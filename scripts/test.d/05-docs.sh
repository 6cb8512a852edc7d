#!/usr/bin/env bash
# Documentation: the repository points only inside itself (no reference to
# a design document outside it), every relative Markdown link and every
# `docs/*.md#anchor` reference in the sources leads to an existing file and
# heading, and the license files are there. See scripts/check_docs.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh
need python3 apt python3
python3 scripts/check_docs.py
