/**
 * Run a command in this process, through the AppContext seam, as the CLI would run it: oclif parses
 * the argv, the command gets a context built here (the environment given, cloud clients replaced
 * by fakes where given, no terminal), and stdout, stderr and the exit code are captured. For tests
 * where the process boundary is not what is tested; startup, stdin/TTY and real exit codes keep
 * their real-process tests (test/helpers/cli.ts).
 *
 * It runs the built code (dist/), like the real-process tests, so the oclif manifest and the
 * command classes are the ones users get.
 */
import {join} from 'node:path'

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

/** Run `argv` (e.g. ['grant', 'render', 's3://b', '--json']) and capture what a user would see. */
export async function runInProcess(argv: string[], opts: InProcessOptions = {}): Promise<CliResult> {
  config ??= await Config.load({root: ROOT})
  const {BaseCommand} = await import(join(ROOT, 'dist/cli/base-command.js'))
  const {createContext} = await import(join(ROOT, 'dist/context.js'))
  const {createUi} = await import(join(ROOT, 'dist/output/ui.js'))
  const env = opts.env ?? baseEnv()
  let stdout = ''
  let stderr = ''
  const out = {write: (t: string) => ((stdout += t), true), isTTY: false}
  const err = {write: (t: string) => ((stderr += t), true), isTTY: false}
  const saved = {create: BaseCommand.createContext, out: process.stdout.write, err: process.stderr.write, exitCode: process.exitCode}
  BaseCommand.createContext = (o: Record<string, unknown> = {}) =>
    createContext({
      ...o,
      env,
      ui: createUi(out, err, env),
      ...(opts.clients ? {clients: {...createContext({env}).clients, ...opts.clients}} : {}),
      ...(opts.confirm === undefined ? {} : {confirm: async () => opts.confirm}),
    })
  // The envelope and error lines are written straight to the process streams: capture those too.
  process.stdout.write = ((t: string | Uint8Array) => out.write(String(t))) as typeof process.stdout.write
  process.stderr.write = ((t: string | Uint8Array) => err.write(String(t))) as typeof process.stderr.write
  process.exitCode = undefined
  let code = 0
  try {
    const [first, second, ...rest] = argv
    const id = config.findCommand(`${first}:${second}`) ? `${first}:${second}` : first
    const args = id === first ? argv.slice(1) : rest
    await config.runCommand(id, args)
    code = Number(process.exitCode ?? 0)
  } catch (error) {
    if (error instanceof Errors.ExitError) code = error.oclif.exit ?? 1
    else throw error
  } finally {
    BaseCommand.createContext = saved.create
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
