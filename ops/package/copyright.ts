/**
 * Writes the package's debian/copyright (DEP-5) to stdout: Phase under Apache-2.0, then every
 * package in the bundle's node_modules with its licence name and its own licence text, and the
 * Node.js runtime with its licence. pm2 (AGPL-3.0) is among them. A bundled package with no
 * licence at all stops the build.
 *
 *   node ops/package/copyright.ts <bundle node_modules> <Node.js LICENSE file>
 */
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const [modules, nodeLicence] = process.argv.slice(2)
if (modules === undefined || nodeLicence === undefined) {
  process.stderr.write('usage: copyright.ts <node_modules> <node LICENSE>\n')
  process.exit(64)
}

interface Pkg { dir: string, name: string, version: string, license: string, text: string | undefined, author: string | undefined }

/** Every package folder under node_modules (scoped and nested ones too). */
function packages (dir: string): string[] {
  const found: string[] = []
  if (!existsSync(dir)) return found
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue
    const path = join(dir, entry)
    if (!statSync(path).isDirectory()) continue
    if (entry.startsWith('@')) { found.push(...packages(path)); continue }
    if (existsSync(join(path, 'package.json'))) found.push(path)
    found.push(...packages(join(path, 'node_modules')))
  }
  return found
}

function licenceName (raw: unknown): string {
  if (typeof raw === 'string') return raw
  if (Array.isArray(raw)) return raw.map(licenceName).join(' or ')
  if (typeof raw === 'object' && raw !== null && 'type' in raw) return String((raw as { type: unknown }).type)
  return ''
}

function read (dir: string): Pkg {
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|-|$)/i.test(f) && statSync(join(dir, f)).isFile())
  const author = typeof meta.author === 'string' ? meta.author : typeof meta.author === 'object' && meta.author !== null ? String((meta.author as { name?: unknown }).name ?? '') : undefined
  return {
    dir,
    name: String(meta.name ?? relative(modules!, dir)),
    version: String(meta.version ?? ''),
    license: licenceName(meta.license ?? meta.licenses),
    text: file === undefined ? undefined : readFileSync(join(dir, file), 'utf8'),
    author: author === '' ? undefined : author
  }
}

/** A DEP-5 field body: continuation lines start with a space, empty lines are " .". */
function body (text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').trimEnd().split('\n').map((l) => (l.trim() === '' ? ' .' : ` ${l.trimEnd()}`)).join('\n')
}

function copyrightOf (p: Pkg): string {
  const lines = (p.text ?? '').split('\n').map((l) => l.trim()).filter((l) => /^(copyright\b|\(c\)|©)/i.test(l) && /\d{4}|[A-Za-z]{3,}/.test(l.replace(/^copyright/i, '')))
  const unique = [...new Set(lines.map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, '').trim()))].filter((l) => l !== '' && !/^notice|^holders?|^owner/i.test(l)).slice(0, 5)
  if (unique.length > 0) return unique.join('\n ')
  return p.author ?? `the ${p.name} authors`
}

const out: string[] = []
out.push(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: phase
Upstream-Contact: Phase maintainers <maintainers@users.noreply.b-seed-ed1cb6e1.example>
Comment: Phase bundles its own Node.js runtime and the npm packages it runs on under
 /usr/lib/phase/node_modules; each is listed below with its own licence text as it ships it.
 pm2, the process supervisor, is licensed under the GNU Affero General Public License 3.0; its
 source is the npm package pm2 at the version listed.

Files: *
Copyright: 2026 Phase maintainers
License: Apache-2.0

Files: usr/lib/phase/node_modules/node/*
Copyright: Node.js contributors and the authors of its bundled components
License: Node.js
${body(readFileSync(nodeLicence, 'utf8'))}`)

const missing: string[] = []
const seen = new Set<string>()
for (const dir of packages(modules).sort()) {
  const p = read(dir)
  if (p.name === 'node') continue
  if (p.license === '' && p.text === undefined) { missing.push(p.name); continue }
  const key = `${p.name}@${p.version}`
  if (seen.has(key)) continue
  seen.add(key)
  const license = (p.license === '' ? 'other' : p.license).replace(/[()]/g, '').replace(/\s+OR\s+/g, ' or ').replace(/\s+AND\s+/g, ' and ')
  // The Apache License 2.0 is in base-files; point to it rather than repeat it (Debian policy).
  const apacheFull = p.text !== undefined && /Apache License\s+Version 2\.0/i.test(p.text) && /TERMS AND CONDITIONS/.test(p.text)
  const text = apacheFull || (p.text === undefined && license === 'Apache-2.0')
    ? `${apacheFull ? copyrightOf(p) + '\n\n' : ''}On Debian systems, the complete text of the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.`
    : p.text ?? `${p.name} ${p.version} ships no licence file; its package.json declares ${p.license}.`
  out.push(`Files: usr/lib/phase/${relative(join(modules, '..'), dir)}/*
Copyright: ${copyrightOf(p)}
Comment: npm package ${key}
License: ${license}
${body(text)}`)
}
if (missing.length > 0) {
  process.stderr.write(`copyright: no licence for ${missing.join(', ')}\n`)
  process.exit(1)
}
out.push(`License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not use this
 file except in compliance with the License. You may obtain a copy of the License at
 .
     http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software distributed under
 the License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
 KIND, either express or implied. See the License for the specific language governing
 permissions and limitations under the License.
 .
 On Debian systems, the complete text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.`)
process.stdout.write(out.join('\n\n') + '\n')
