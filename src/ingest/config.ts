/**
 * Where the client's settings come from, in the vendor CLI's places so a researcher who ran
 * `fw login` needs nothing else: the cluster URL (--cluster, the site file, `cli.yml`), the API key
 * (--api-key, INGESTGATE_API_KEY, `user.json`), and the last ingest (`ingest.yaml`), all under
 * `$FLYWHEEL_USER_HOME` (default: the home directory) `/.config/flywheel/`.
 */
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {dirname, join} from 'node:path'

import {ConfigError} from '../errors.js'
import {registerApiKey} from '../output/redact.js'
import {loadSite} from '../site.js'

/** `$FLYWHEEL_USER_HOME/.config/flywheel` (the vendor CLI's configuration folder). */
export function flywheelConfigDir(env: NodeJS.ProcessEnv): string {
  const home = env.FLYWHEEL_USER_HOME || env.HOME || homedir()
  return join(home, '.config', 'flywheel')
}

export const HOW_TO_GET_CLUSTER_URL =
  'The cluster URL is your site\'s sign-in URL followed by /ingest (e.g. https://site.example.io/ingest); your site administrator or the vendor\'s support can confirm that the site runs an ingest cluster.'

/**
 * Normalise a cluster URL: http(s) only; one trailing slash dropped; a URL with no path gets
 * `/ingest` appended (the vendor documents the cluster URL as the sign-in URL + `/ingest`).
 * @throws ConfigError BAD_CLUSTER_URL (exit 3)
 */
export function normaliseClusterUrl(input: string): string {
  const raw = input.trim()
  const bad = (why: string): never => {
    throw new ConfigError('BAD_CLUSTER_URL', `Invalid cluster URL "${input}": ${why}.`, {suggestions: [HOW_TO_GET_CLUSTER_URL]})
  }
  if (!/^https?:\/\//i.test(raw)) bad('only http:// and https:// cluster URLs are supported')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return bad('it is not a URL')
  }
  if (!url.hostname) bad('the host is missing')
  if (url.search || url.hash) bad('a cluster URL has no query string or fragment')
  if (url.username || url.password) bad('credentials do not belong in the cluster URL (use --api-key or `fw login`)')
  const trimmed = raw.endsWith('/') ? raw.slice(0, -1) : raw
  if (url.pathname === '/' || url.pathname === '') return `${trimmed.replace(/\/+$/, '')}/ingest`
  return trimmed
}

async function readYamlOrJson(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError('BAD_CONFIG_FILE', `Cannot read ${path}: ${(error as Error).message}.`, {suggestions: ['Check the file\'s permissions.']})
  }
  try {
    const value = path.endsWith('.json') ? JSON.parse(text) : (await import('yaml')).parse(text)
    if (value === null || value === undefined) return {}
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error('the top level is not a mapping')
    return value as Record<string, unknown>
  } catch (error) {
    throw new ConfigError('BAD_CONFIG_FILE', `Cannot parse ${path}: ${(error as Error).message}.`, {
      suggestions: ['Fix the YAML (or JSON) syntax; keys are the long flag names, with dashes or underscores.'],
    })
  }
}

/**
 * The config file (`-C FILE`, else the vendor CLI's `cli.yml`): defaults for flags, keyed by flag name
 * with dashes or underscores. A missing default file is no error; a missing `-C` file is.
 */
export async function loadConfigFile(explicit: string | undefined, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const path = explicit ?? join(flywheelConfigDir(env), 'cli.yml')
  const data = await readYamlOrJson(path)
  if (data === undefined && explicit) {
    throw new ConfigError('BAD_CONFIG_FILE', `The config file ${explicit} does not exist.`, {suggestions: ['Check the path given to -C/--config-file.']})
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(data ?? {})) out[k.replaceAll('_', '-')] = v
  return out
}

export interface ClusterSources {
  cluster?: string
  site?: string
  /** Already loaded config file values (dash keys). */
  config?: Record<string, unknown>
  configPath?: string
}

/**
 * The cluster URL: --cluster, else the site file's `cluster`, else the config file's `cluster`.
 * @throws ConfigError NO_CLUSTER explaining that only cluster ingests are supported.
 */
export async function resolveCluster(src: ClusterSources, env: NodeJS.ProcessEnv): Promise<{url: string; from: string}> {
  if (src.cluster) return {url: normaliseClusterUrl(src.cluster), from: '--cluster'}
  if (src.site) {
    const site = await loadSite(src.site)
    if (site.cluster) return {url: normaliseClusterUrl(site.cluster), from: `the site file ${src.site}`}
  }
  const config = src.config ?? (await loadConfigFile(src.configPath, env))
  if (typeof config.cluster === 'string' && config.cluster) {
    return {url: normaliseClusterUrl(config.cluster), from: src.configPath ?? join(flywheelConfigDir(env), 'cli.yml')}
  }
  throw new ConfigError(
    'NO_CLUSTER',
    'No ingest cluster URL: ingestgate only runs cluster ingests (the cluster reads the bucket itself); it does not ingest from this machine.',
    {
      suggestions: [
        'Pass --cluster URL, or put "cluster" in the site file (--site), or `cluster: URL` in ~/.config/flywheel/cli.yml.',
        HOW_TO_GET_CLUSTER_URL,
        'To ingest from this machine without a cluster, use the vendor CLI (`fw ingest ...` without --cluster).',
      ],
    },
  )
}

/**
 * The API key: --api-key, else INGESTGATE_API_KEY, else `user.json`'s `key` (written by `fw login`).
 * The key is registered for redaction before anything else can print it.
 * @throws ConfigError NO_API_KEY
 */
export async function resolveApiKey(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<{key: string; from: string}> {
  const found = await findApiKey(flag, env)
  if (found) {
    registerApiKey(found.key)
    return found
  }
  throw new ConfigError('NO_API_KEY', 'No API key for the ingest cluster.', {
    suggestions: [
      'Pass --api-key KEY, set INGESTGATE_API_KEY, or sign in with the vendor CLI (`fw login KEY`), which stores the key in ~/.config/flywheel/user.json.',
      'The key is the one from your profile page on the site (its form is <host>:<key>).',
    ],
  })
}

async function findApiKey(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<{key: string; from: string} | undefined> {
  if (flag?.trim()) return {key: flag.trim(), from: '--api-key'}
  if (env.INGESTGATE_API_KEY?.trim()) return {key: env.INGESTGATE_API_KEY.trim(), from: 'INGESTGATE_API_KEY'}
  const path = join(flywheelConfigDir(env), 'user.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return undefined
  }
  try {
    const data = JSON.parse(text)
    if (data && typeof data.key === 'string' && data.key.trim()) return {key: data.key.trim(), from: path}
  } catch {
    // the vendor CLI treats an unreadable user.json as "not logged in"; so do we.
  }
  return undefined
}

// ------------------------------------------------------------------------------------------------
// Ingest URLs and the last ingest

const UUID = '[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}'
const INGEST_URL = new RegExp(`^(?<cluster>.*)/ingests/(?<id>${UUID})/?$`)

/** The vendor CLI's own words for a malformed ingest URL. */
export const BAD_INGEST_URL_MESSAGE = 'The provided url should have the following format: <cluster_url>/ingests/<ingest_id>'

export interface IngestRef {
  cluster: string
  id: string
  url: string
}

/**
 * Split `<cluster_url>/ingests/<uuid>` into cluster and id.
 * @throws ConfigError BAD_INGEST_URL with the vendor's message.
 */
export function parseIngestUrl(input: string): IngestRef {
  const m = INGEST_URL.exec(input.trim())
  if (!m?.groups || !/^https?:\/\/[^/]+/i.test(m.groups.cluster)) {
    throw new ConfigError('BAD_INGEST_URL', BAD_INGEST_URL_MESSAGE, {
      suggestions: ['Copy the URL printed by "Started ingest ..." or listed by `ingestgate ingest list --cluster URL`.'],
    })
  }
  const cluster = m.groups.cluster
  return {cluster, id: m.groups.id, url: `${cluster}/ingests/${m.groups.id}`}
}

export function lastIngestPath(env: NodeJS.ProcessEnv): string {
  return join(flywheelConfigDir(env), 'ingest.yaml')
}

/** Remember the last started ingest as the vendor CLI does (`ingest_operation_url` in ingest.yaml). */
export async function rememberIngest(url: string, env: NodeJS.ProcessEnv): Promise<string> {
  const path = lastIngestPath(env)
  const YAML = await import('yaml')
  let data: Record<string, unknown> = {}
  try {
    const parsed = YAML.parse(await readFile(path, 'utf8'))
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) data = parsed
  } catch {}
  data.ingest_operation_url = url
  try {
    await mkdir(dirname(path), {recursive: true, mode: 0o700})
    const tmp = `${path}.${process.pid}.tmp`
    await writeFile(tmp, YAML.stringify(data), {mode: 0o600})
    await rename(tmp, path)
  } catch (error) {
    throw new ConfigError('CANNOT_REMEMBER_INGEST', `Cannot record the ingest ${url} in ${path}: ${(error as Error).message}.`, {
      suggestions: [
        `Make ${dirname(path)} writable (or set FLYWHEEL_USER_HOME); the ingest was created but not started: start it again, or abort it with \`ingestgate ingest abort ${url}\`.`,
      ],
    })
  }
  return path
}

/**
 * The ingest a command acts on: the URL given, else the remembered one.
 * @throws ConfigError NO_INGEST_URL / BAD_INGEST_URL (vendor messages)
 */
export async function resolveIngestRef(given: string | undefined, env: NodeJS.ProcessEnv): Promise<IngestRef> {
  if (given) return parseIngestUrl(given)
  let remembered: unknown
  try {
    const YAML = await import('yaml')
    remembered = YAML.parse(await readFile(lastIngestPath(env), 'utf8'))?.ingest_operation_url
  } catch {}
  if (typeof remembered !== 'string' || !remembered) {
    throw new ConfigError(
      'NO_INGEST_URL',
      "Couldn't determine the ingest URL, probably it was started on a different machine or by a different user. Please specify the ingest URL as a positional argument.",
      {suggestions: ['List the cluster\'s ingests with `ingestgate ingest list --cluster URL`.']},
    )
  }
  return parseIngestUrl(remembered)
}
