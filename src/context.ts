/**
 * AppContext: the one place production wiring happens. Commands receive it; tests build their own
 * with createContext({...overrides}). Cloud clients are created lazily by their factories so a
 * command that needs no cloud loads no SDK.
 */
import {homedir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline/promises'

import type {AwsClientOptions, AwsClients} from './clients/aws/index.js'
import type {GcpClientOptions, GcpClients} from './clients/gcp.js'
import type {AzureClientOptions, AzureClients} from './clients/azure/index.js'
import {ConfigError} from './errors.js'
import {createUi, type Ui} from './output/ui.js'

export interface AppContext {
  env: NodeJS.ProcessEnv
  ui: Ui
  now(): Date
  /** Where backups and remembered state go (never overwritten, user-only permissions). */
  stateDir: string
  /** Ask a yes/no question on stderr; throws when there is no terminal to ask on. */
  confirm(question: string): Promise<boolean>
  /** One lazy client factory per cloud; each imports its SDK on first call. */
  clients: CloudClients
}

export interface CloudClients {
  aws(options: AwsClientOptions): Promise<AwsClients>
  gcp(options: GcpClientOptions): Promise<GcpClients>
  azure(options: AzureClientOptions): Promise<AzureClients>
}

export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.INGESTGATE_STATE_DIR) return env.INGESTGATE_STATE_DIR
  const base = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state')
  return join(base, 'ingestgate')
}

async function ttyConfirm(question: string, ui: Ui): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new ConfigError('CONFIRMATION_REQUIRED', 'This change needs confirmation, and there is no terminal to ask on.', {
      suggestions: ['Re-run with --yes to confirm, or --dry-run to only see the plan.'],
    })
  }
  const rl = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = (await rl.question(ui.color.bold(question) + ' (yes/no): ')).trim().toLowerCase()
    return answer === 'y' || answer === 'yes'
  } finally {
    rl.close()
  }
}

/** Overrides for tests: any field, and any subset of the client factories (the others stay real). */
export type ContextOverrides = Partial<Omit<AppContext, 'clients'>> & {clients?: Partial<CloudClients>; quiet?: boolean}

export function createContext(overrides: ContextOverrides = {}): AppContext {
  const env = overrides.env ?? process.env
  const ui = overrides.ui ?? createUi(process.stdout, process.stderr, env, overrides.quiet)
  return {
    env,
    ui,
    now: () => new Date(),
    stateDir: defaultStateDir(env),
    confirm: (q) => ttyConfirm(q, ui),
    ...overrides,
    clients: {
      async aws(options) {
        const {createAwsClients} = await import('./clients/aws/index.js')
        return createAwsClients(options, env)
      },
      async gcp(options) {
        const {createGcpClients} = await import('./clients/gcp.js')
        return createGcpClients(options, env)
      },
      async azure(options) {
        const {createAzureClients} = await import('./clients/azure/index.js')
        return createAzureClients(options, env)
      },
      ...overrides.clients,
    },
  }
}
