#!/bin/sh
# Builds dist/wcbridge-plugin-<version>.zip with a top-level wcbridge/ folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
version=$(sed -n "s/^define( 'WCBRIDGE_VERSION', '\([^']*\)' );/\1/p" "$here/wcbridge.php")
[ -n "$version" ] || { echo "build-zip: no WCBRIDGE_VERSION in wcbridge.php" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/wcbridge"
cp -R "$here/wcbridge.php" "$here/uninstall.php" "$here/readme.txt" "$here/includes" "$here/templates" "$here/assets" "$here/languages" "$stage/wcbridge/"
mkdir -p "$root/dist"
out="$root/dist/wcbridge-plugin-$version.zip"
rm -f "$out"
(cd "$stage" && zip -qr "$out" wcbridge)
echo "$out"
