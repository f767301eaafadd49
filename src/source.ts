/**
 * The source URL every command takes: s3://bucket[/prefix], gs://bucket[/prefix],
 * az://account/container[/prefix]. The scheme picks the provider and is case-insensitive
 * (the vendor's documentation writes S3://bucket/key).
 */
import {ConfigError} from './errors.js'

export type ProviderId = 's3' | 'gs' | 'az'

export interface Source {
  provider: ProviderId
  /** S3 and GCS: the bucket. Azure: the container. */
  bucket: string
  /** Azure only: the storage account. */
  account?: string
  /** Key prefix without a leading slash; '' for the whole bucket. */
  prefix: string
  /** The canonical URL (lower-case scheme). */
  url: string
  /** Azure only: the blob endpoint, when the source was given as a blob URL (sovereign clouds). */
  endpoint?: string
}

const BAD_URL_HELP = [
  'Use s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX] or az://ACCOUNT/CONTAINER[/PREFIX] (or the blob URL https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]).',
]

/** The blob endpoints of the public and sovereign Azure clouds, by host suffix. */
const AZURE_BLOB_HOST = /^([^.]+)\.blob\.core\.(windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)$/i

/** `https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX` as az://, or undefined when it is not one. */
function azureBlobUrl(input: string, scheme: string, rest: string): Source | undefined {
  if (scheme !== 'https') return undefined
  const slash = rest.indexOf('/')
  const host = slash === -1 ? rest : rest.slice(0, slash)
  const m = AZURE_BLOB_HOST.exec(host)
  if (!m) return undefined
  let path: string
  try {
    path = decodeURIComponent(slash === -1 ? '' : rest.slice(slash + 1))
  } catch {
    bad(input, 'the path is not valid percent-encoding')
  }
  // Host names have no case; storage account names are lower-case.
  const account = m[1].toLowerCase()
  const asAz = `az://${account}/${path}`
  let parsed: Source
  try {
    parsed = parseSource(asAz)
  } catch (error) {
    // Say it about the URL as the user typed it.
    if (error instanceof ConfigError) throw new ConfigError(error.code, error.message.replace(`"${asAz}"`, `"${input}"`), {suggestions: error.suggestions})
    throw error
  }
  return {...parsed, endpoint: `https://${account}.blob.core.${m[2].toLowerCase()}`}
}

function bad(url: string, why: string, suggestions = BAD_URL_HELP): never {
  throw new ConfigError('BAD_SOURCE', `Invalid source URL "${url}": ${why}.`, {suggestions})
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/

/** S3 general-purpose bucket naming rules. */
function s3BucketProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'an S3 bucket name is 3 to 63 characters long'
  if (!/^[a-z0-9.-]+$/.test(name)) return 'an S3 bucket name has only lower-case letters, digits, dots and hyphens'
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'an S3 bucket name begins and ends with a letter or digit'
  if (name.includes('..')) return 'an S3 bucket name has no two adjacent dots'
  if (IPV4.test(name)) return 'an S3 bucket name is not formatted as an IP address'
  if (name.startsWith('xn--') || name.startsWith('sthree-') || name.startsWith('amzn-s3-demo-'))
    return 'an S3 bucket name does not start with xn--, sthree- or amzn-s3-demo-'
  if (/(-s3alias|--ol-s3|--x-s3|--table-s3|\.mrap)$/.test(name)) return 'that S3 bucket name suffix is reserved'
  return undefined
}

/** Cloud Storage bucket naming rules (dotted names up to 222 characters, 63 per component). */
function gcsBucketProblem(name: string): string | undefined {
  if (!/^[a-z0-9._-]+$/.test(name)) return 'a GCS bucket name has only lower-case letters, digits, dots, hyphens and underscores'
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'a GCS bucket name begins and ends with a letter or digit'
  const max = name.includes('.') ? 222 : 63
  if (name.length < 3 || name.length > max) return `a GCS bucket name is 3 to ${max} characters long`
  if (name.split('.').some((part) => part.length === 0 || part.length > 63)) return 'each dot-separated part of a GCS bucket name is 1 to 63 characters'
  if (IPV4.test(name)) return 'a GCS bucket name is not an IP address'
  if (name.startsWith('goog') || /g(o|0)(o|0)gle/.test(name)) return 'a GCS bucket name cannot start with "goog" or contain "google"'
  return undefined
}

function azureAccountProblem(name: string): string | undefined {
  if (!/^[a-z0-9]{3,24}$/.test(name)) return 'an Azure storage account name is 3 to 24 lower-case letters and digits'
  return undefined
}

function azureContainerProblem(name: string): string | undefined {
  if (name === '$root' || name === '$web' || name === '$logs') return undefined
  if (name.length < 3 || name.length > 63) return 'an Azure container name is 3 to 63 characters long'
  if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/.test(name))
    return 'an Azure container name has lower-case letters, digits and single hyphens, and starts and ends with a letter or digit'
  return undefined
}

function prefixProblem(prefix: string): string | undefined {
  if (Buffer.byteLength(prefix, 'utf8') > 1024) return 'the prefix is longer than 1024 bytes'
  // Control characters cannot be typed into a policy or a listing request safely.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(prefix)) return 'the prefix contains a control character'
  if (prefix.includes('*') || prefix.includes('?')) return 'the prefix contains a wildcard (* or ?), which would widen the grant; give the literal key prefix'
  return undefined
}

/**
 * The source an S3 or Cloud Storage web URL names, for the "did you mean": virtual-hosted
 * (`https://B.s3.REGION.amazonaws.com/KEY`), path-style (`https://s3.REGION.amazonaws.com/B/KEY`)
 * and `https://storage.googleapis.com/B/OBJECT`.
 */
function storageUrlMeaning(scheme: string, rest: string): string | undefined {
  if (scheme !== 'https' && scheme !== 'http') return undefined
  const slash = rest.indexOf('/')
  const host = (slash === -1 ? rest : rest.slice(0, slash)).toLowerCase()
  const path = slash === -1 ? '' : rest.slice(slash + 1)
  const virtual = /^(.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$/.exec(host)
  if (virtual) return `s3://${virtual[1]}/${path}`.replace(/\/$/, '')
  if (/^s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$/.test(host) && path) return `s3://${path}`
  if ((host === 'storage.googleapis.com' || host === 'storage.cloud.google.com') && path) return `gs://${path}`
  return undefined
}

/**
 * Parse and validate a source URL.
 * @throws ConfigError (exit 3) naming what is wrong and the accepted forms.
 */
export function parseSource(input: string): Source {
  const raw = input.trim()
  const m = /^([A-Za-z0-9]+):\/\/(.*)$/s.exec(raw)
  if (!m) {
    // s3:/bucket, s3:bucket: the scheme is there but not its two slashes.
    const near = /^(s3|gs|az):\/?([^/].*)$/i.exec(raw)
    if (near) bad(input, 'the scheme needs two slashes', [`Did you mean ${near[1].toLowerCase()}://${near[2]} ?`, ...BAD_URL_HELP])
    bad(input, 'it does not start with a scheme such as s3://')
  }
  const scheme = m[1].toLowerCase()
  const rest = m[2]
  if (rest.includes('?') || rest.includes('#')) bad(input, 'query strings and fragments are not part of a source URL')
  const blobUrl = azureBlobUrl(input, scheme, rest)
  if (blobUrl) return blobUrl
  if (scheme !== 's3' && scheme !== 'gs' && scheme !== 'az') {
    const meant = storageUrlMeaning(scheme, rest)
    bad(input, `the scheme "${m[1]}" is not supported`, meant ? [`Did you mean ${meant} ?`, ...BAD_URL_HELP] : BAD_URL_HELP)
  }

  const provider = scheme as ProviderId
  const slash = rest.indexOf('/')
  const first = slash === -1 ? rest : rest.slice(0, slash)
  let after = slash === -1 ? '' : rest.slice(slash + 1)

  if (provider === 'az') {
    const account = first
    if (!account) bad(input, 'the storage account is missing')
    const accountWhy = azureAccountProblem(account)
    if (accountWhy) bad(input, accountWhy)
    const slash2 = after.indexOf('/')
    const container = slash2 === -1 ? after : after.slice(0, slash2)
    after = slash2 === -1 ? '' : after.slice(slash2 + 1)
    if (!container) bad(input, 'the container is missing', ['Use az://ACCOUNT/CONTAINER[/PREFIX].'])
    const containerWhy = azureContainerProblem(container)
    if (containerWhy) bad(input, containerWhy)
    const prefix = normalisePrefix(input, after)
    return {provider, account, bucket: container, prefix, url: `az://${account}/${container}${prefix ? '/' + prefix : ''}`}
  }

  if (!first) bad(input, 'the bucket name is missing')
  const why = provider === 's3' ? s3BucketProblem(first) : gcsBucketProblem(first)
  if (why) bad(input, `${why} (got "${first}")`)
  const prefix = normalisePrefix(input, after)
  return {provider, bucket: first, prefix, url: `${provider}://${first}${prefix ? '/' + prefix : ''}`}
}

function normalisePrefix(input: string, prefix: string): string {
  // A leading slash would be part of the key in S3 (s3://b//x is key "/x"); refuse the ambiguity.
  if (prefix.startsWith('/')) bad(input, 'the prefix starts with "/" (an empty path segment)')
  const why = prefixProblem(prefix)
  if (why) bad(input, why)
  return prefix
}

/** The prefix as a directory (`dicom` -> `dicom/`): what an ingest lists, so `dicom2/...` is not part of it. */
export function directoryPrefix(source: Source): string {
  return source.prefix === '' || source.prefix.endsWith('/') ? source.prefix : `${source.prefix}/`
}

/**
 * The source as the ingest body's `src_fs` carries it. The vendor's GCS walker turns `gs://bkt`
 * into the list prefix "/" (which matches nothing) and lists `dicom/` for `gs://bkt/dicom`: a gs://
 * source is always sent as `gs://BUCKET/` or `gs://BUCKET/PREFIX/`. Other clouds' URLs go as given,
 * as the vendor CLI sends them.
 */
export function clusterSourceUrl(input: string, source: Source): string {
  if (source.provider === 'gs') return `gs://${source.bucket}/${directoryPrefix(source)}`
  return input.trim()
}
