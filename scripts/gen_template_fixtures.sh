#!/usr/bin/env bash
# Records what Go's text/template (with docker's template functions) prints for each case
# in tests/fixtures/gotemplate/cases.ts into tests/fixtures/gotemplate/fixtures.json, the
# reference tests/unit/format_template.test.ts compares lib/format with. The fixture is
# committed, so the tests need no Go; run this again after changing the cases.
#
# Needs deno and go (Debian: apt-get install golang-go; the fixture was made with Go 1.19).
set -euo pipefail

cd "$(dirname "$0")/.."
dir=tests/fixtures/gotemplate
command -v go >/dev/null || { echo "gen_template_fixtures.sh: go is missing (apt-get install golang-go)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GOCACHE="${GOCACHE:-$tmp/gocache}" GOPATH="${GOPATH:-$tmp/gopath}" GO111MODULE=off GOFLAGS=

deno run --quiet "$dir/cases.ts" >"$tmp/cases.json"
go build -o "$tmp/gotemplate" "$dir/main.go"
"$tmp/gotemplate" <"$tmp/cases.json" >"$tmp/fixtures.json"
mv "$tmp/fixtures.json" "$dir/fixtures.json"
deno fmt --quiet "$dir/fixtures.json"
echo "gen_template_fixtures.sh: $(grep -c '"template":' "$dir/fixtures.json") cases written to $dir/fixtures.json"
