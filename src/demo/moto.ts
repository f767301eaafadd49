/**
 * A local AWS emulator (moto, from the machine's python3) for the demo and the tests. moto cannot be
 * installed from npm, so where it is missing this says how to get it. The launcher
 * (emulators/moto_launcher.py) patches moto bugs that break the JS SDK and logs every request.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'

import {ConfigError} from '../errors.js'

export const MOTO_LAUNCHER = new URL('../../emulators/moto_launcher.py', import.meta.url).pathname
const READY_TIMEOUT_MS = 20_000
const MOTO_HELP = "Install it with: pip install 'moto[server]' (or set INGESTGATE_PYTHON to a python3 that has it)."

export interface MotoServerOptions {
  /** IAM authorisation from the first request (INITIAL_NO_AUTH_ACTION_COUNT=0). */
  auth?: boolean
  /** Append one JSON line per request to this file. */
  logFile?: string
  /** Extra launcher arguments (e.g. --without-patch X). */
  launcherArgs?: string[]
  /** Called with the server's stderr (request lines unless logging is quiet). */
  onStderr?: (chunk: string) => void
  env?: NodeJS.ProcessEnv
}

export interface MotoServer {
  endpoint: string
  port: number
  stop(): Promise<void>
}

const live = new Set<ChildProcess>()
let exitHook = false
const checked = new Map<string, string | true>()

/** The python3 that runs moto: INGESTGATE_PYTHON, MOTO_PYTHON, else python3. */
export function motoPython(env: NodeJS.ProcessEnv = process.env): string {
  return env.INGESTGATE_PYTHON || env.MOTO_PYTHON || 'python3'
}

/** @throws ConfigError MOTO_MISSING when that python3 cannot import moto's server. */
export function assertMotoInstalled(env: NodeJS.ProcessEnv = process.env): void {
  const python = motoPython(env)
  let verdict = checked.get(python)
  if (verdict === undefined) {
    const probe = spawnSync(python, ['-c', 'import moto.server'], {encoding: 'utf8', timeout: 30_000})
    verdict = probe.status === 0 ? true : (probe.error?.message ?? (probe.stderr || '').trim().split('\n').pop() ?? '')
    checked.set(python, verdict)
  }
  if (verdict !== true) {
    throw new ConfigError('MOTO_MISSING', `moto is not installed: the local AWS emulator is not available from ${python} (${verdict}).`, {suggestions: [MOTO_HELP]})
  }
}

async function waitForHttp(url: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      await (await fetch(url)).arrayBuffer()
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

/**
 * Start moto on a free loopback port and wait until it answers. The server exits when this process
 * does (its stdin closes, and an exit hook kills it), so nothing is left running after a crash.
 */
export async function startMotoServer(opts: MotoServerOptions = {}): Promise<MotoServer> {
  const env: NodeJS.ProcessEnv = {...(opts.env ?? process.env), PYTHONUNBUFFERED: '1'}
  assertMotoInstalled(env)
  delete env.MOTO_ACCOUNT_ID // keep moto's default account
  if (opts.auth) env.INITIAL_NO_AUTH_ACTION_COUNT = '0'
  else delete env.INITIAL_NO_AUTH_ACTION_COUNT
  const args = [MOTO_LAUNCHER, '--host', '127.0.0.1', '--port', '0', '--exit-on-stdin-eof']
  if (opts.logFile) args.push('--log', opts.logFile)
  if (!opts.onStderr) args.push('--quiet')
  args.push(...(opts.launcherArgs ?? []))

  const child = spawn(motoPython(env), args, {env, stdio: ['pipe', 'pipe', 'pipe']})
  live.add(child)
  if (!exitHook) {
    exitHook = true
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL')
    })
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  exited.then(() => live.delete(child))
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000)
    opts.onStderr?.(d)
  })

  const deadline = Date.now() + READY_TIMEOUT_MS
  let port: number
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`not ready within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS)
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (d: string) => {
        out += d
        const m = /MOTO_READY port=(\d+)/.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
      child.once('error', (error) => reject(error))
      child.once('exit', (code) => reject(new Error(`the launcher exited with code ${code}`)))
    })
    child.stdout.resume() // never block the server on a full pipe
    await waitForHttp(`http://127.0.0.1:${port}/moto-api/`, deadline)
  } catch (error) {
    child.kill('SIGKILL')
    throw new ConfigError('MOTO_START_FAILED', `The local AWS emulator did not start (${(error as Error).message}).${stderr ? `\n${stderr.trim()}` : ''}`, {
      suggestions: ['Check that moto works: python3 -m moto.server --help'],
    })
  }
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    },
  }
}
