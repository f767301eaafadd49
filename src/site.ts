/**
 * The site file support hands a customer (--site FILE): the ingest principal per cloud and the
 * cluster URL, validated against the JSON Schema shipped in schemas/site.schema.json.
 */
import {readFile} from 'node:fs/promises'

import {ConfigError} from './errors.js'
import {validateWithSchema} from './schema.js'

export interface SiteFile {
  name?: string
  cluster?: string
  aws?: {principal: string; externalId?: string}
  gcp?: {principal: string}
  /** principal: the service principal's object id in the customer's tenant; applicationId: the vendor app's client id. */
  azure?: {principal: string; applicationId?: string; tenantId?: string}
}

/** " at line L, column C" for a JSON.parse error that names a position (Node says "at position N"). */
function jsonErrorPlace(text: string, error: Error): string {
  const m = /at position (\d+)/.exec(error.message)
  if (!m) return ''
  const before = text.slice(0, Number(m[1]))
  const line = before.split('\n').length
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`
}

/**
 * Read and validate a site file.
 * @throws ConfigError BAD_SITE_FILE (exit 3) naming the file and every invalid field.
 */
export async function loadSite(path: string): Promise<SiteFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message
    throw new ConfigError('BAD_SITE_FILE', `Cannot read site file ${path}: ${why}.`, {
      suggestions: ['Check the path given to --site; support sends the site file as JSON.'],
    })
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw new ConfigError('BAD_SITE_FILE', `Site file ${path} is not valid JSON${jsonErrorPlace(text, error as Error)}: ${(error as Error).message}.`, {
      suggestions: ['Fix the JSON syntax, or ask support for a fresh copy of the site file.'],
    })
  }
  const problems = await validateWithSchema('site', data)
  if (problems.length > 0) {
    throw new ConfigError('BAD_SITE_FILE', `Site file ${path} is invalid:\n  - ${problems.join('\n  - ')}`, {
      suggestions: ['Fix the fields named above; the schema is schemas/site.schema.json in the ingestgate package.'],
    })
  }
  return data as SiteFile
}
