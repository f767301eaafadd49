/**
 * Run the built CLI (bin/run.js) as a user would: a real process, real exit code, stdout and stderr
 * apart. Tests assert on those.
 */
import {spawn} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  /** stdout parsed as the --json envelope (undefined when it is not JSON). */
  json?: {status: number; result?: any; warnings?: string[]; error?: {code: string; message: string; suggestions: string[]}}
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv
  input?: string
  /** 'ignore': stdin is /dev/null (as `</dev/null` in a shell) instead of a pipe given `input`. */
  stdin?: 'pipe' | 'ignore'
  nodeArgs?: string[]
  timeoutMs?: number
}

/** A clean environment: no AWS profile or credentials leak in from the machine running the tests. */
export function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && k !== 'FORCE_COLOR') env[k] = v
  return {
    ...env,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    NO_COLOR: '1',
    NODE_ENV: 'production',
    ...extra,
  }
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
      cwd: ROOT,
      env: opts.env ?? baseEnv(),
      stdio: [opts.stdin ?? 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      let json: CliResult['json']
      try {
        json = JSON.parse(stdout)
      } catch {}
      resolve({code: code ?? -1, stdout, stderr, json})
    })
    child.stdin?.end(opts.input ?? '')
  })
}
