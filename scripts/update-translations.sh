#!/usr/bin/env bash
# Refresh the gettext catalogs: extract every marked message from app/ into
# app/locale/messages.pot, then merge it into the Dutch catalog
# (app/locale/nl/LC_MESSAGES/messages.po). Translate the new entries in the
# .po file afterwards; tests/test_i18n.py fails while any is left empty.
# The template has no source locations, so neither has the catalog
# (`pybabel update` has no --no-location option; there is nothing to keep).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -x .venv/bin/pybabel ]]; then
    pybabel=".venv/bin/pybabel"
else
    pybabel="pybabel"
fi

locale_dir="app/locale"
pot="$locale_dir/messages.pot"
po="$locale_dir/nl/LC_MESSAGES/messages.po"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)"

"$pybabel" extract -F babel.cfg \
    -k _l -k AnswerError -k ConfigError -k EditError -k AccountError -k translate:2 \
    --no-location --sort-output \
    --project Stemlab --version "${version:-0}" \
    -o "$pot" .

if [[ -f "$po" ]]; then
    "$pybabel" update -i "$pot" -d "$locale_dir" -D messages \
        --no-fuzzy-matching --ignore-pot-creation-date
else
    "$pybabel" init -i "$pot" -d "$locale_dir" -D messages -l nl
fi
