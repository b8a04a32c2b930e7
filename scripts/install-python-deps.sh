#!/usr/bin/env bash
# Installs the Python packages the tests drive (tests/requirements.txt) into .tools/pyvenv,
# from PyPI. Does nothing when they are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.tools/pyvenv
stamp=$venv/.installed-$(sha256sum tests/requirements.txt | cut -c1-16)
[[ -e $stamp ]] && exit 0
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
touch "$stamp"
