#!/usr/bin/env node
// Makes a fresh clone runnable: installs dependencies from the lockfile when they are missing or
// stale, and builds when the sources are newer than the build. Run by `npm test` and `npm run demo`.
import {execSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

const root = new URL('..', import.meta.url).pathname
const run = (cmd) => execSync(cmd, {cwd: root, stdio: ['ignore', 'inherit', 'inherit']})
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0)
const newest = (dir) =>
  readdirSync(dir, {withFileTypes: true}).reduce((max, e) => {
    const p = join(dir, e.name)
    return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }, 0)

// Installed when the lockfile's content differs from the one last installed (times lie in a fresh
// checkout or a worktree). A node_modules that is a symlink belongs to another checkout: never
// reinstall through it, which would empty that checkout's install.
const modules = join(root, 'node_modules')
const lockHash = createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).digest('hex')
const installedHash = join(modules, '.ingestgate-lock-sha256')
const linked = existsSync(modules) && lstatSync(modules).isSymbolicLink()
if (!linked && (!existsSync(join(modules, '.package-lock.json')) || !existsSync(installedHash) || readFileSync(installedHash, 'utf8') !== lockHash)) {
  process.stderr.write('bootstrap: installing dependencies (npm ci)\n')
  run('npm ci --no-audit --no-fund --loglevel=error')
  writeFileSync(installedHash, lockHash)
}
const stamp = join(root, 'dist/.build-stamp')
const inputs = Math.max(newest(join(root, 'src')), mtime(join(root, 'package.json')), mtime(join(root, 'tsconfig.json')))
if (inputs > mtime(stamp)) {
  process.stderr.write('bootstrap: building (tsc + oclif manifest)\n')
  run('npm run --silent build')
}
