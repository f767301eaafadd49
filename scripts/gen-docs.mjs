#!/usr/bin/env node
// Generates docs/exit-codes.md from the exit-code table in the code, and docs/commands.md from the
// commands (oclif readme). With --check, writes nothing and exits 1 when either is stale.
import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const root = new URL('..', import.meta.url).pathname
const check = process.argv.includes('--check')
const {EXIT_CODE_MEANINGS} = await import(join(root, 'dist/errors.js'))

const exitCodes = [
  '# Exit codes',
  '',
  'Every ingestgate command ends with one of these codes (also the `status` field of the `--json` envelope).',
  '',
  '| code | meaning |',
  '|---|---|',
  ...Object.entries(EXIT_CODE_MEANINGS).map(([code, meaning]) => `| ${code} | ${meaning} |`),
  '',
].join('\n')

// oclif readme rewrites the file in place between its markers: work on a copy.
const tmp = mkdtempSync(join(tmpdir(), 'ig-docs-'))
const commandsTmp = join(tmp, 'commands.md')
copyFileSync(join(root, 'docs/commands.md'), commandsTmp)
// OCLIF_SKIP_NEW_VERSION_CHECK: no "oclif update available" (the next major needs Node 22) and no registry call.
execFileSync(join(root, 'node_modules/.bin/oclif'), ['readme', '--readme-path', commandsTmp, '--no-aliases'], {
  cwd: root,
  env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true'},
  stdio: ['ignore', 'ignore', 'inherit'],
})
const commands = readFileSync(commandsTmp, 'utf8')

const targets = [
  ['docs/exit-codes.md', exitCodes],
  ['docs/commands.md', commands],
]
let stale = false
for (const [rel, content] of targets) {
  const path = join(root, rel)
  let current = ''
  try {
    current = readFileSync(path, 'utf8')
  } catch {}
  if (current === content) continue
  if (check) {
    process.stderr.write(`${rel} is stale: run npm run docs\n`)
    stale = true
  } else writeFileSync(path, content)
}
process.exit(stale ? 1 : 0)
