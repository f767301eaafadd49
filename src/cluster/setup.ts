/**
 * What `cluster serve` checks and holds before it answers anything: the listen address, a data
 * directory it may use (and a lock on it, so two clusters never share one), and listen errors said
 * in the flags' terms.
 */
import {accessSync, constants as fsConstants, mkdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {isIP} from 'node:net'
import {dirname, join} from 'node:path'

import {AppError, ConfigError} from '../errors.js'

const lockedDirs = new Set<string>()

export function lockDataDir(dataDir: string): () => void {
  const lock = join(dataDir, 'cluster.lock')
  if (lockedDirs.has(dataDir)) {
    throw new ConfigError('DATA_DIR_IN_USE', `The data directory ${dataDir} is used by another cluster in this process.`, {
      suggestions: ['Stop that cluster first, or give this one another --data-dir.'],
    })
  }
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim())
    if (pid && pid !== process.pid) {
      let alive = true
      try {
        process.kill(pid, 0)
      } catch (error) {
        alive = (error as NodeJS.ErrnoException).code === 'EPERM'
      }
      if (alive) {
        throw new ConfigError('DATA_DIR_IN_USE', `The data directory ${dataDir} is in use by another cluster (pid ${pid}).`, {
          suggestions: ['Stop that cluster first, or give this one another --data-dir.'],
        })
      }
    }
  } catch (error) {
    if (error instanceof AppError) throw error
  }
  writeFileSync(lock, `${process.pid}\n`)
  lockedDirs.add(dataDir)
  return () => {
    lockedDirs.delete(dataDir)
    rmSync(lock, {force: true})
  }
}

export function checkListenHost(host: string): void {
  if (host === 'localhost' || isIP(host) !== 0) return
  throw new ConfigError('BAD_HOST', `--host "${host}" is not an IP address (or localhost).`, {
    suggestions: ['Give an address of this machine to listen on: 127.0.0.1 (the default, this machine only), ::1, or 0.0.0.0 for every interface.'],
  })
}

function badDataDir(dataDir: string, why: string): ConfigError {
  return new ConfigError('BAD_DATA_DIR', `Cannot use ${dataDir} as the data directory: ${why}.`, {
    suggestions: ['Give --data-dir a directory you can write, or a path where one can be created (the cluster creates it when missing).'],
  })
}

/**
 * Create the data directory (and its missing parents) one level at a time, after checking that the
 * nearest existing ancestor is a writable directory. Not mkdirSync({recursive}): on Node 20 that
 * spins forever under /proc, and it reports a file in the way as an internal-looking EEXIST.
 * @throws ConfigError BAD_DATA_DIR
 */
export function prepareDataDir(dataDir: string): void {
  const missing: string[] = []
  let at = dataDir
  for (;;) {
    let isDir: boolean
    try {
      isDir = statSync(at).isDirectory()
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(at) !== at) {
        missing.unshift(at)
        at = dirname(at)
        continue
      }
      throw badDataDir(dataDir, `${at} cannot be read (${code ?? (error as Error).message})`)
    }
    if (!isDir) throw badDataDir(dataDir, at === dataDir ? 'it is a file, not a directory' : `${at} is a file, not a directory`)
    break
  }
  try {
    accessSync(at, fsConstants.W_OK | fsConstants.X_OK)
  } catch {
    if (missing.length > 0 || !isWritableDir(at)) throw badDataDir(dataDir, `${at} is not writable`)
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir, {mode: 0o700})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw badDataDir(dataDir, `cannot create ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
    }
  }
}

function isWritableDir(dir: string): boolean {
  try {
    accessSync(dir, fsConstants.W_OK)
    return true
  } catch {
    return false
  }
}

/** What a failed listen means, in the words of the flags that caused it. */
export function listenError(host: string, port: number, error: NodeJS.ErrnoException): ConfigError {
  const where = `${host}:${port}`
  switch (error.code) {
    case 'EADDRINUSE':
      return new ConfigError('PORT_UNAVAILABLE', `Cannot listen on ${where} (EADDRINUSE): the port is in use.`, {suggestions: ['Pick another --port, or 0 for any free port.']})
    case 'EACCES':
      return new ConfigError('PORT_UNAVAILABLE', `Cannot listen on ${where} (EACCES): not allowed (ports below 1024 need privileges).`, {
        suggestions: ['Pick a --port of 1024 or more, or 0 for any free port.'],
      })
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError('BAD_HOST', `Cannot listen on ${where} (${error.code}): --host "${host}" is not an address of this machine.`, {
        suggestions: ['Give an address of this machine: 127.0.0.1 (the default), ::1, or 0.0.0.0 for every interface.'],
      })
    default:
      return new ConfigError('LISTEN_FAILED', `Cannot listen on ${where} (${error.code ?? error.message}).`, {
        suggestions: ['Check --host and --port; 127.0.0.1 and port 0 (any free port) always work.'],
      })
  }
}
