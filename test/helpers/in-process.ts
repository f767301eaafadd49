/**
 * Run a command in this process, through the AppContext seam, as the CLI would run it: oclif parses
 * the argv, the command gets a context built here (the environment given, cloud clients replaced
 * by fakes where given, no terminal), and stdout, stderr and the exit code are captured. For tests
 * where the process boundary is not what is tested; startup, stdin/TTY and real exit codes keep
 * their real-process tests (test/helpers/cli.ts).
 *
 * It runs the built code (dist/), like the real-process tests, so the oclif manifest and the
 * command classes are the ones users get. Runs are not concurrent within a test file.
 */
import {Config, Errors} from '@oclif/core'

import type {CloudClients} from '../../src/context.js'
import {baseEnv, ROOT, type CliResult} from './cli.js'

export interface InProcessOptions {
  env?: NodeJS.ProcessEnv
  /** Fakes for some clouds' client factories; the others stay real. */
  clients?: Partial<CloudClients>
  /** The answer to every confirmation prompt (default: there is no terminal to ask on). */
  confirm?: boolean
}

let config: Config | undefined

/**
 * The BaseCommand oclif itself loaded (with Node's own import(), not the test runner's module graph,
 * whose copy would be another class): found up the prototype chain of the command oclif loads.
 */
async function baseCommandOf(id: string): Promise<{createContext: (o?: Record<string, unknown>) => any}> {
  let cls = await config!.findCommand(id)!.load()
  while (cls && !Object.prototype.hasOwnProperty.call(cls, 'createContext')) cls = Object.getPrototypeOf(cls)
  if (!cls) throw new Error(`${id} does not extend BaseCommand`)
  return cls as unknown as {createContext: (o?: Record<string, unknown>) => any}
}

/** Run `argv` (e.g. ['grant', 'render', 's3://b', '--json']) and capture what a user would see. */
export async function runInProcess(argv: string[], opts: InProcessOptions = {}): Promise<CliResult> {
  config ??= await Config.load({root: ROOT})
  const [first, second, ...rest] = argv
  const id = config.findCommand(`${first}:${second}`) ? `${first}:${second}` : first
  const args = id === first ? argv.slice(1) : rest
  const Base = await baseCommandOf(id)
  const env = opts.env ?? baseEnv()
  let stdout = ''
  let stderr = ''
  const saved = {create: Base.createContext, out: process.stdout.write, err: process.stderr.write, exitCode: process.exitCode}
  // The production factory, with this run's environment and fakes; its UI writes to the process
  // streams, which are captured below with everything else (the envelope, error lines).
  Base.createContext = (o: Record<string, unknown> = {}) => {
    const ctx = saved.create({...o, env})
    if (opts.clients) ctx.clients = {...ctx.clients, ...opts.clients}
    if (opts.confirm !== undefined) ctx.confirm = async () => opts.confirm
    return ctx
  }
  process.stdout.write = ((t: string | Uint8Array) => ((stdout += String(t)), true)) as typeof process.stdout.write
  process.stderr.write = ((t: string | Uint8Array) => ((stderr += String(t)), true)) as typeof process.stderr.write
  process.exitCode = undefined
  let code = 0
  try {
    await config.runCommand(id, args)
    code = Number(process.exitCode ?? 0)
  } catch (error) {
    if (error instanceof Errors.ExitError) code = error.oclif.exit ?? 1
    else throw error
  } finally {
    Base.createContext = saved.create
    process.stdout.write = saved.out
    process.stderr.write = saved.err
    process.exitCode = saved.exitCode
  }
  let json: CliResult['json']
  try {
    json = JSON.parse(stdout)
  } catch {}
  return {code, stdout, stderr, json}
}
