/**
 * What every cloud's demo story shares: each step is a real `ingestgate` process whose exit code is
 * recorded, its children see only the local stand-ins (no credentials of this machine, never a
 * metadata server), and long outputs are shown by their head with the full text saved.
 */
import {spawn} from 'node:child_process'
import {mkdirSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {AppContext} from '../context.js'
import {AppError, ExitCode} from '../errors.js'

export interface DemoStep {
  command: string
  exitCode: number
}

export const BIN = new URL('../../bin/run.js', import.meta.url).pathname

/** Every file under a directory, recursively. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => {
    const p = join(dir, e.name)
    return e.isDirectory() ? filesUnder(p) : statSync(p).isFile() ? [p] : []
  })
}

/**
 * The environment of a demo child: this machine's cloud settings removed, metadata servers off
 * (AWS, Google), Azure credentials selected explicitly, its own state and vendor-CLI directories,
 * the cluster's API key and fast follow timings. Each story adds its stand-in's endpoints and keys.
 */
export function demoChildEnv(ctx: AppContext, scratch: string, apiKey: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(ctx.env)) if (!/^(AWS_|GOOGLE_|CLOUDSDK_|AZURE_|GCE_)/.test(k) && k !== 'NODE_ENV') env[k] = v
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    METADATA_SERVER_DETECTION: 'none',
    AZURE_TOKEN_CREDENTIALS: 'AzureCliCredential',
    INGESTGATE_STATE_DIR: join(scratch, 'state'),
    FLYWHEEL_USER_HOME: join(scratch, 'home'),
    INGESTGATE_API_KEY: apiKey,
    INGESTGATE_CLUSTER_API_KEY: apiKey,
    INGESTGATE_POLL_INTERVAL_MS: '250',
    INGESTGATE_PROGRESS_INTERVAL_MS: '1000',
    ...extra,
  }
}

export interface StepOptions {
  /** Show only this many lines of the step's output, and save the whole of it under the state dir as `saveAs`. */
  head?: number
  saveAs?: string
}

/**
 * A runner of demo steps: prints the title and the command, runs it, records its exit code in
 * `steps`, and rejects on a non-zero exit. Under --json the demo's stdout is reserved for its
 * result: the children talk on stderr.
 */
export function stepRunner(ctx: AppContext, opts: {json: boolean}, steps: DemoStep[]) {
  const {ui} = ctx
  return (title: string, args: string[], env: NodeJS.ProcessEnv, how: StepOptions = {}) =>
    new Promise<void>((resolve, reject) => {
      const shown = `ingestgate ${args.join(' ')}`
      ui.info('\n' + ui.color.bold.cyan(`== ${title}`) + '\n' + ui.color.bold(`$ ${shown}`))
      const capture = how.head !== undefined
      const child = spawn(process.execPath, [BIN, ...args], {env, stdio: ['ignore', capture ? 'pipe' : opts.json ? process.stderr : 'inherit', 'inherit']})
      let out = ''
      child.stdout?.on('data', (d) => (out += String(d)))
      child.on('error', reject)
      child.on('exit', (code) => {
        steps.push({command: shown, exitCode: code ?? -1})
        if (capture) {
          const lines = out.replace(/\n$/, '').split('\n')
          const file = join(ctx.stateDir, 'demo', how.saveAs ?? 'output.txt')
          mkdirSync(join(ctx.stateDir, 'demo'), {recursive: true, mode: 0o700})
          writeFileSync(file, out, {mode: 0o600})
          ui.info(lines.slice(0, how.head).join('\n'))
          if (lines.length > how.head!) ui.info(ui.color.dim(`... (${lines.length - how.head!} more lines; the whole text is in ${file})`))
        }
        if (code === 0) resolve()
        else reject(new AppError('DEMO_STEP_FAILED', `The demo step "${shown}" exited with ${code}.`, ExitCode.INTERNAL, {suggestions: ['Re-run the demo; if it fails again, report the output above.']}))
      })
    })
}
