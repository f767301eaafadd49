/**
 * A local AWS emulator (moto, from the machine's python3) for the demo and the tests. moto cannot be
 * installed from npm, so where it is missing this says how to get it.
 */
import {spawn, spawnSync} from 'node:child_process'

import {ConfigError} from '../errors.js'

export const MOTO_LAUNCHER = new URL('../../emulators/moto_launcher.py', import.meta.url).pathname
const READY_TIMEOUT_MS = 20_000

export interface MotoServer {
  endpoint: string
  port: number
  stop(): Promise<void>
}

/** The python3 that has moto, or a ConfigError saying how to install it. */
export function motoPython(env: NodeJS.ProcessEnv = process.env): string {
  const python = env.INGESTGATE_PYTHON ?? 'python3'
  const probe = spawnSync(python, ['-c', 'import moto.server'], {encoding: 'utf8', timeout: 30_000})
  if (probe.status !== 0) {
    throw new ConfigError('MOTO_MISSING', `The local AWS emulator (moto) is not available from ${python}.`, {
      suggestions: ["Install it with: pip install 'moto[server]' (or set INGESTGATE_PYTHON to a python3 that has it)."],
    })
  }
  return python
}

/**
 * Start moto on a free loopback port and wait until it answers. The server exits when this process
 * does (its stdin closes), so nothing is left running after a crash.
 */
export async function startMotoServer(opts: {auth?: boolean; logFile?: string; env?: NodeJS.ProcessEnv} = {}): Promise<MotoServer> {
  const env = opts.env ?? process.env
  const python = motoPython(env)
  const args = [MOTO_LAUNCHER, '--host', '127.0.0.1', '--port', '0', '--exit-on-stdin-eof', '--quiet']
  if (opts.logFile) args.push('--log', opts.logFile)
  const child = spawn(python, args, {
    env: {...env, ...(opts.auth ? {INITIAL_NO_AUTH_ACTION_COUNT: '0'} : {})},
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS)
    child.stdout.on('data', (d) => {
      out += d
      const m = /MOTO_READY port=(\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`exited with code ${code}`))
    })
  }).catch((error: Error) => {
    child.kill('SIGKILL')
    throw new ConfigError('MOTO_START_FAILED', `The local AWS emulator did not start (${error.message}).${stderr ? `\n${stderr.trim()}` : ''}`, {
      suggestions: ["Check that moto works: python3 -m moto.server --help"],
    })
  })
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
        setTimeout(() => child.kill('SIGKILL'), 3000).unref()
      }),
  }
}
