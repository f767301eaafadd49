#!/usr/bin/env node
// Makes a fresh clone runnable: installs dependencies from the lockfile when they are missing or
// stale, and builds when the sources are newer than the build. Run by `npm test` and `npm run demo`.
import {execSync} from 'node:child_process'
import {existsSync, readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'

const root = new URL('..', import.meta.url).pathname
const run = (cmd) => execSync(cmd, {cwd: root, stdio: ['ignore', 'inherit', 'inherit']})
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0)
const newest = (dir) =>
  readdirSync(dir, {withFileTypes: true}).reduce((max, e) => {
    const p = join(dir, e.name)
    return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }, 0)

if (!existsSync(join(root, 'node_modules/.package-lock.json')) || mtime(join(root, 'package-lock.json')) > mtime(join(root, 'node_modules/.package-lock.json'))) {
  process.stderr.write('bootstrap: installing dependencies (npm ci)\n')
  run('npm ci --no-audit --no-fund --loglevel=error')
}
const stamp = join(root, 'dist/.build-stamp')
const inputs = Math.max(newest(join(root, 'src')), mtime(join(root, 'package.json')), mtime(join(root, 'tsconfig.json')))
if (inputs > mtime(stamp)) {
  process.stderr.write('bootstrap: building (tsc + oclif manifest)\n')
  run('npm run --silent build')
}
