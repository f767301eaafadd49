/**
 * The base of every command: the one --json envelope, error normalisation to typed exit codes, and
 * the AppContext seam (tests replace BaseCommand.createContext).
 */
import {Command, Errors, type Interfaces} from '@oclif/core'

import {createContext, type AppContext} from '../context.js'
import {AppError, ExitCode, type ExitCodeValue} from '../errors.js'
import {redact} from '../output/redact.js'

export interface JsonEnvelope<T> {
  status: number
  result?: T
  warnings?: string[]
  /** `data`: what the failure found (e.g. the preflight's rows), never secrets. */
  error?: {code: string; message: string; suggestions: string[]; data?: Record<string, unknown>}
}

/** Turn anything thrown into an AppError; unknown errors are internal (exit 1). */
export function normaliseError(error: unknown, command?: string): AppError {
  if (error instanceof AppError) return error
  const e = error as Errors.CLIError & {oclif?: {exit?: number}; parse?: unknown; code?: string}
  if (e?.parse !== undefined || (e instanceof Errors.CLIError && e.oclif?.exit === 2)) {
    // oclif ends its parse errors with its own "See more help with --help": the suggestion says it once.
    const message = e.message.replace(/\n*See more help with --help\s*$/, '')
    return new AppError('USAGE', message, ExitCode.USAGE, {suggestions: [`See ${command ? `\`${command} --help\`` : '--help'} for the arguments and flags.`]})
  }
  return new AppError('INTERNAL', `Internal error: ${e?.message ?? String(error)}`, ExitCode.INTERNAL, {
    cause: error,
    suggestions: ['This is a bug in ingestgate. Re-run with DEBUG=ingestgate* and report the output.'],
  })
}

export abstract class BaseCommand<T> extends Command {
  static override enableJsonFlag = true

  /** The production wiring; tests swap it for their own. */
  static createContext: (overrides?: Parameters<typeof createContext>[0]) => AppContext = createContext

  protected ctx!: AppContext
  private collectedWarnings: string[] = []
  private status: ExitCodeValue = ExitCode.OK

  abstract override run(): Promise<T>

  /**
   * Arguments come from the command line only: oclif would otherwise fill a missing optional
   * argument from piped stdin (`echo yes | ingest abort` took "yes" as the URL), and stdin is for
   * the answers to prompts.
   */
  protected override async parse<F extends Interfaces.OutputFlags<any>, B extends Interfaces.OutputFlags<any>, A extends Interfaces.OutputArgs<any>>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const o = options ?? (this.ctor as unknown as Interfaces.Input<F, B, A>)
    const args = Object.fromEntries(Object.entries(o.args ?? {}).map(([name, arg]) => [name, {...arg, ignoreStdin: true}])) as typeof o.args
    // Read through `o` (not a spread of it): a command class inherits some of these statics.
    return super.parse({...o, args, flags: o.flags, baseFlags: o.baseFlags, enableJsonFlag: o.enableJsonFlag, strict: o.strict}, argv)
  }

  /** `ingestgate ingest list`: how this command is typed, for hints. */
  protected commandLine(): string {
    return [this.config.bin, ...(this.id ?? '').split(':')].filter(Boolean).join(' ')
  }

  override async init(): Promise<void> {
    await super.init()
    this.ctx = (this.constructor as typeof BaseCommand).createContext()
  }

  /** A result that is not a success (a failed check, an ingest that ended badly) sets its exit code here. */
  protected setExitStatus(code: ExitCodeValue): void {
    this.status = code
    process.exitCode = code
  }

  /** A warning for the envelope only, when the text already says it where a person reads it. */
  protected noteWarning(text: string): void {
    this.collectedWarnings.push(redact(text))
  }

  override warn(input: string | Error): string | Error {
    const text = redact(typeof input === 'string' ? input : input.message)
    this.collectedWarnings.push(text)
    if (this.ctx) this.ctx.ui.warn(text)
    else process.stderr.write(`Warning: ${text}\n`)
    return input
  }

  protected override toSuccessJson(result: T): JsonEnvelope<T> {
    return {status: this.status, result, warnings: this.collectedWarnings}
  }

  protected override toErrorJson(error: unknown): JsonEnvelope<T> {
    const e = normaliseError(error, this.commandLine())
    return {status: e.exitCode, error: {code: e.code, message: e.message, suggestions: e.suggestions, ...(e.data ? {data: e.data} : {})}}
  }

  override logJson(json: unknown): void {
    process.stdout.write(redact(JSON.stringify(json, null, 2)) + '\n')
  }

  override async catch(error: Error & {oclif?: {exit?: number}; code?: string}): Promise<void> {
    // this.exit() inside a command throws an ExitError: let oclif finish it.
    if (error instanceof Errors.ExitError) throw error
    const e = normaliseError(error, this.commandLine())
    process.exitCode = e.exitCode
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(e))
    } else {
      const color = this.ctx?.ui.color
      const lines = [`${color ? color.red.bold('Error:') : 'Error:'} ${e.message}`]
      for (const s of e.suggestions) lines.push(`  ${color ? color.cyan('→') : '→'} ${s}`)
      if (e.exitCode === ExitCode.INTERNAL && process.env.DEBUG && e.cause instanceof Error) lines.push(String(e.cause.stack))
      process.stderr.write(redact(lines.join('\n')) + '\n')
    }
    this.exit(e.exitCode)
  }
}
