#!/usr/bin/env node
/**
 * A test double of the Azure Blob Storage data plane for the calls ingestgate and the ingest
 * cluster make (List Blobs, Get Blob with ranges, Get Blob Properties, Get Container Properties,
 * and Put Blob for seeding), over HTTPS on 127.0.0.1, path-style like Azurite
 * (https://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB).
 *
 * What Azurite cannot do and this double does: enforce Azure RBAC from the ARM double's role
 * assignments (data actions, notDataActions, ABAC conditions, deny assignments, an optional
 * propagation delay before a new assignment counts) and the account's network rules, answering
 * with the exact Azure error bodies: AuthorizationFailure for the firewall,
 * AuthorizationPermissionMismatch for a missing role. The protocol shape (list XML, ranges,
 * BlobNotFound, ContainerNotFound, InvalidRange) is checked against Azurite with the same SDK
 * calls in test/emulators/azure-blob-double.test.ts.
 *
 * Run: `node emulators/azure-blob-double.mjs --seed FILE` starts this and the ARM double on one
 * world and prints one JSON ready line ({"arm", "blob", "ca"}); or import startBlobDouble().
 */
import {createHash, randomUUID} from 'node:crypto'
import {readFileSync} from 'node:fs'

import {compileCondition, generateCertificate, permitsAction, scopeCovers, scratchDir, serveHttps, verifyToken} from './azure-common.mjs'
import {AzureWorld, startArmDouble} from './azure-arm-double.mjs'

const BLOBS = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs'
const READ = `${BLOBS}/read`
const WRITE = `${BLOBS}/write`
const EVERYONE = '00000000-0000-0000-0000-000000000000'
const API_VERSION = '2025-11-05'

const MESSAGES = {
  AuthorizationFailure: 'This request is not authorized to perform this operation.',
  AuthorizationPermissionMismatch: 'This request is not authorized to perform this operation using this permission.',
  BlobNotFound: 'The specified blob does not exist.',
  ContainerNotFound: 'The specified container does not exist.',
  InvalidRange: 'The range specified is invalid for the current size of the resource.',
  InvalidAuthenticationInfo: 'Server failed to authenticate the request. Please refer to the information in the www-authenticate header.',
  NoAuthenticationInformation: 'Server failed to authenticate the request. Please refer to the information in the www-authenticate header.',
  ResourceNotFound: 'The specified resource does not exist.',
  InvalidQueryParameterValue: 'Value for one of the query parameters specified in the request URI is invalid.',
  UnsupportedHttpVerb: 'The resource doesn\'t support specified Http Verb.',
}
const STATUS = {
  AuthorizationFailure: 403,
  AuthorizationPermissionMismatch: 403,
  BlobNotFound: 404,
  ContainerNotFound: 404,
  InvalidRange: 416,
  InvalidAuthenticationInfo: 401,
  NoAuthenticationInformation: 401,
  ResourceNotFound: 404,
  InvalidQueryParameterValue: 400,
  UnsupportedHttpVerb: 405,
}

const xmlEscape = (s) => String(s).replace(/[<>&'"]/g, (c) => ({'<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;'})[c])

/** An IPv4 address inside a CIDR range or equal to a single address (Azure ipRules take both). */
function ipInRule(ip, rule) {
  const [base, bitsText] = rule.split('/')
  const bits = bitsText === undefined ? 32 : Number(bitsText)
  const toInt = (a) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !/^\d+\.\d+\.\d+\.\d+$/.test(base)) return false
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0
  return (toInt(ip) & mask) === (toInt(base) & mask)
}

/**
 * Start the blob double on the same world as an ARM double.
 * @param {{world: AzureWorld, tls?: {cert: string, key: string, certPath?: string}, port?: number, clientAddress?: string}} opts
 *   clientAddress: the public address the firewall sees for every caller (all real callers here
 *   are 127.0.0.1, which Azure's ipRules cannot even name).
 */
export async function startBlobDouble(opts) {
  const {world} = opts
  world.blobStore ??= new Map()
  world.clientAddress = opts.clientAddress ?? '203.0.113.10'
  const served = await serveHttps(
    opts,
    (req, res, body) => handle(world, req, res, body),
    (res, error) => {
      res.writeHead(500, {'content-type': 'text/plain'})
      res.end(String(error?.stack ?? error))
    },
  )
  return {
    ...served,
    /** The blob endpoint of an account, as primaryEndpoints.blob would give it. */
    endpoint: (account) => `https://127.0.0.1:${served.port}/${account}`,
    world,
  }
}

/** Put a blob straight into the world (seeding; no RBAC). */
export function putBlob(world, account, container, name, body, contentType = 'application/octet-stream') {
  world.blobStore ??= new Map()
  const a = world.accounts.get(account)
  if (!a) throw new Error(`no storage account ${account}`)
  if (!a.containers.includes(container)) a.containers.push(container)
  const key = `${account}/${container}`
  if (!world.blobStore.has(key)) world.blobStore.set(key, new Map())
  const bytes = Buffer.from(body)
  const now = new Date()
  world.blobStore.get(key).set(name, {
    bytes,
    contentType,
    created: now,
    modified: now,
    etag: `"0x${createHash('sha1').update(bytes).update(String(now.getTime())).digest('hex').slice(0, 15).toUpperCase()}"`,
    md5: createHash('md5').update(bytes).digest('base64'),
  })
}

function baseHeaders(extra = {}) {
  return {'x-ms-request-id': randomUUID(), 'x-ms-version': API_VERSION, date: new Date().toUTCString(), server: 'Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0', ...extra}
}

function fail(req, res, code, detail, extra = {}) {
  const status = STATUS[code]
  const message = `${MESSAGES[code]}\nRequestId:${randomUUID()}\nTime:${new Date().toISOString()}`
  const headers = baseHeaders({'x-ms-error-code': code, 'content-type': 'application/xml', ...extra})
  res.writeHead(status, headers)
  if (req.method === 'HEAD') return res.end()
  const detailXml = detail ? `<AuthenticationErrorDetail>${xmlEscape(detail)}</AuthenticationErrorDetail>` : ''
  res.end(`\uFEFF<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${detailXml}</Error>`)
}

/** What RBAC says about one data action by one principal on a container (and a blob in it). */
function authorize(world, principalId, account, container, action, attrs) {
  const scope = world.containerScope(account, container)
  const now = Date.now()
  const denied = world.denyAssignmentsCovering(scope).some((d) => {
    const applies = d.principalIds.some((p) => p === EVERYONE || p.toLowerCase() === principalId.toLowerCase()) && !(d.excludePrincipalIds ?? []).some((p) => p.toLowerCase() === principalId.toLowerCase())
    return applies && permitsAction([{dataActions: d.dataActions ?? [], notDataActions: d.notDataActions ?? []}], action, true)
  })
  if (denied) return false
  return world.assignmentsCovering(principalId, scope, now).some((a) => {
    const def = world.roleDefinitionOf(a)
    if (!def || !permitsAction(def.properties.permissions, action, true)) return false
    if (!a.properties.condition) return true
    try {
      return compileCondition(a.properties.condition)({action, ...attrs})
    } catch {
      // A condition the evaluator cannot read is not met: a refusal, never an allow.
      return false
    }
  })
}

function networkAllows(world, account) {
  const a = world.accounts.get(account)
  if (a.publicNetworkAccess === 'Disabled') return false
  const acl = a.networkAcls
  if (!acl || acl.defaultAction !== 'Deny') return true
  return (acl.ipRules ?? []).some((r) => (r.action ?? 'Allow') === 'Allow' && ipInRule(world.clientAddress, r.value))
}

function parseRange(header, size) {
  if (!header) return undefined
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim())
  if (!m) return undefined
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'invalid'
  return {start, end}
}

function blobHeaders(blob) {
  return {
    'last-modified': blob.modified.toUTCString(),
    'x-ms-creation-time': blob.created.toUTCString(),
    etag: blob.etag,
    'content-type': blob.contentType,
    'content-md5': blob.md5,
    'x-ms-blob-type': 'BlockBlob',
    'x-ms-lease-status': 'unlocked',
    'x-ms-lease-state': 'available',
    'x-ms-server-encrypted': 'true',
    'x-ms-access-tier': 'Hot',
    'x-ms-access-tier-inferred': 'true',
    'accept-ranges': 'bytes',
  }
}

function handle(world, req, res, body) {
  const url = new URL(req.url, 'https://127.0.0.1')
  const segments = url.pathname.split('/').slice(1)
  const account = decodeURIComponent(segments[0] ?? '')
  const container = decodeURIComponent(segments[1] ?? '')
  const blobName = segments.length > 2 ? decodeURIComponent(segments.slice(2).join('/')) : ''
  world.requests?.push({plane: 'blob', method: req.method, path: url.pathname, query: url.search})
  if (!world.accounts.has(account)) return fail(req, res, 'ResourceNotFound')

  // The firewall comes first: Azure refuses a disallowed network before it looks at the token.
  if (!networkAllows(world, account)) return fail(req, res, 'AuthorizationFailure')

  const challenge = {'www-authenticate': `Bearer authorization_uri=https://login.microsoftonline.com/${world.tenantId}/oauth2/authorize resource_id=https://storage.azure.com`}
  if (!req.headers.authorization) return fail(req, res, 'NoAuthenticationInformation', undefined, challenge)
  const auth = verifyToken(req.headers.authorization, world.identities, (aud) => /^https:\/\/storage\.azure\.com\/?$/.test(aud) || aud === `https://${account}.blob.core.windows.net` || aud === `https://${account}.blob.core.windows.net/`)
  if (!auth.ok) {
    const detail = {expired: 'Lifetime validation failed. The token is expired.', audience: 'Audience validation failed. Audience did not match.', signature: 'Signature validation failed.', unknown: 'Issuer validation failed.', malformed: 'The token is malformed.', missing: 'Authentication scheme is not supported.'}[auth.why]
    return fail(req, res, 'InvalidAuthenticationInfo', detail, challenge)
  }
  const who = auth.identity.oid
  const store = world.blobStore.get(`${account}/${container}`) ?? new Map()
  const containerExists = world.accounts.get(account).containers.includes(container)
  const restype = url.searchParams.get('restype')
  const comp = url.searchParams.get('comp')
  const attrsBase = {'Resource:Microsoft.Storage/storageAccounts/blobServices/containers:name': container}

  if (!container) return fail(req, res, 'InvalidQueryParameterValue')

  if (!blobName && restype === 'container' && comp === 'list' && req.method === 'GET') {
    const prefix = url.searchParams.get('prefix') ?? undefined
    const attrs = {'Request:Microsoft.Storage/storageAccounts/blobServices/containers/blobs:prefix': prefix, ...attrsBase}
    // Listing is authorised as blobs/read with the sub-operation Blob.List.
    if (!authorize(world, who, account, container, READ, {subOperation: 'Blob.List', attributes: attrs})) return fail(req, res, 'AuthorizationPermissionMismatch')
    if (!containerExists) return fail(req, res, 'ContainerNotFound')
    return listBlobs(req, res, url, account, container, store)
  }
  if (!blobName && restype === 'container' && !comp && (req.method === 'GET' || req.method === 'HEAD')) {
    // Get Container Properties is the control-plane-looking containers/read action, which the
    // data roles carry as an Action.
    const scope = world.containerScope(account, container)
    const ok = world.assignmentsCovering(who, scope, Date.now()).some((a) => permitsAction(world.roleDefinitionOf(a)?.properties.permissions ?? [], 'Microsoft.Storage/storageAccounts/blobServices/containers/read', false))
    if (!ok) return fail(req, res, 'AuthorizationPermissionMismatch')
    if (!containerExists) return fail(req, res, 'ContainerNotFound')
    res.writeHead(200, baseHeaders({'last-modified': new Date(0).toUTCString(), etag: '"0x8D000000000000"', 'x-ms-lease-status': 'unlocked', 'x-ms-lease-state': 'available', 'x-ms-has-immutability-policy': 'false', 'x-ms-has-legal-hold': 'false', 'content-length': '0'}))
    return res.end()
  }
  if (blobName && (req.method === 'GET' || req.method === 'HEAD') && !comp) {
    const attrs = {'Resource:Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path': blobName, ...attrsBase}
    if (!authorize(world, who, account, container, READ, {attributes: attrs})) return fail(req, res, 'AuthorizationPermissionMismatch')
    if (!containerExists) return fail(req, res, 'ContainerNotFound')
    const blob = store.get(blobName)
    if (!blob) return fail(req, res, 'BlobNotFound')
    const size = blob.bytes.length
    const range = req.method === 'GET' ? parseRange(req.headers['x-ms-range'] ?? req.headers.range, size) : undefined
    if (range === 'invalid') return fail(req, res, 'InvalidRange', undefined, {'content-range': `bytes */${size}`})
    if (range) {
      const part = blob.bytes.subarray(range.start, range.end + 1)
      res.writeHead(206, baseHeaders({...blobHeaders(blob), 'content-length': String(part.length), 'content-range': `bytes ${range.start}-${range.end}/${size}`}))
      return res.end(part)
    }
    res.writeHead(200, baseHeaders({...blobHeaders(blob), 'content-length': String(size)}))
    return res.end(req.method === 'HEAD' ? undefined : blob.bytes)
  }
  if (blobName && req.method === 'PUT' && !comp) {
    const attrs = {'Resource:Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path': blobName, ...attrsBase}
    if (!authorize(world, who, account, container, WRITE, {attributes: attrs})) return fail(req, res, 'AuthorizationPermissionMismatch')
    if (!containerExists) return fail(req, res, 'ContainerNotFound')
    putBlob(world, account, container, blobName, body, req.headers['x-ms-blob-content-type'] ?? 'application/octet-stream')
    const blob = world.blobStore.get(`${account}/${container}`).get(blobName)
    res.writeHead(201, baseHeaders({etag: blob.etag, 'last-modified': blob.modified.toUTCString(), 'content-md5': blob.md5, 'x-ms-request-server-encrypted': 'true', 'content-length': '0'}))
    return res.end()
  }
  return fail(req, res, 'UnsupportedHttpVerb')
}

function listBlobs(req, res, url, account, container, store) {
  const prefix = url.searchParams.get('prefix') ?? ''
  const delimiter = url.searchParams.get('delimiter') ?? ''
  const marker = url.searchParams.get('marker') ?? ''
  const maxText = url.searchParams.get('maxresults')
  const max = maxText === null ? 5000 : Number(maxText)
  if (!Number.isInteger(max) || max < 1) return fail(req, res, 'InvalidQueryParameterValue')
  const after = marker ? Buffer.from(marker, 'base64url').toString('utf8') : ''
  const names = [...store.keys()].filter((n) => n.startsWith(prefix) && (!after || n >= after)).sort()
  const entries = []
  const seenPrefixes = new Set()
  let next = ''
  for (const n of names) {
    if (entries.length >= max) {
      next = n
      break
    }
    if (delimiter) {
      const i = n.indexOf(delimiter, prefix.length)
      if (i !== -1) {
        const p = n.slice(0, i + delimiter.length)
        if (!seenPrefixes.has(p)) {
          seenPrefixes.add(p)
          entries.push({prefix: p})
        }
        continue
      }
    }
    entries.push({name: n, blob: store.get(n)})
  }
  const items = entries
    .map((e) =>
      e.prefix !== undefined
        ? `<BlobPrefix><Name>${xmlEscape(e.prefix)}</Name></BlobPrefix>`
        : `<Blob><Name>${xmlEscape(e.name)}</Name><Properties><Creation-Time>${e.blob.created.toUTCString()}</Creation-Time><Last-Modified>${e.blob.modified.toUTCString()}</Last-Modified><Etag>${xmlEscape(e.blob.etag)}</Etag><Content-Length>${e.blob.bytes.length}</Content-Length><Content-Type>${xmlEscape(e.blob.contentType)}</Content-Type><Content-Encoding /><Content-Language /><Content-CRC64 /><Content-MD5>${e.blob.md5}</Content-MD5><Cache-Control /><Content-Disposition /><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties><OrMetadata /></Blob>`,
    )
    .join('')
  const endpoint = `https://${req.headers.host}/${account}/`
  const xml =
    `\uFEFF<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${xmlEscape(endpoint)}" ContainerName="${xmlEscape(container)}">` +
    (url.searchParams.has('prefix') ? `<Prefix>${xmlEscape(prefix)}</Prefix>` : '') +
    (marker ? `<Marker>${xmlEscape(marker)}</Marker>` : '') +
    (maxText !== null ? `<MaxResults>${max}</MaxResults>` : '') +
    (delimiter ? `<Delimiter>${xmlEscape(delimiter)}</Delimiter>` : '') +
    `<Blobs>${items}</Blobs><NextMarker>${next ? Buffer.from(next).toString('base64url') : ''}</NextMarker></EnumerationResults>`
  res.writeHead(200, baseHeaders({'content-type': 'application/xml'}))
  res.end(xml)
}

/**
 * Start both doubles on one world and one certificate (what the demo and the CLI tests use).
 * @param {import('./azure-arm-double.mjs').ArmSeed} seed
 * @param {{clientAddress?: string}} [opts]
 */
export async function startAzureDoubles(seed, opts = {}) {
  const scratch = scratchDir()
  const tls = generateCertificate(scratch.dir)
  const world = new AzureWorld(seed)
  const arm = await startArmDouble({world, tls})
  const blob = await startBlobDouble({world, tls, clientAddress: opts.clientAddress})
  // Accounts whose seed gives no endpoint are served by this blob double.
  for (const a of world.accounts.values()) a.blobEndpoint ??= `${blob.endpoint(a.name)}/`
  return {
    world,
    arm,
    blob,
    ca: tls.cert,
    caPath: tls.certPath,
    async stop() {
      await Promise.all([arm.stop(), blob.stop()])
      scratch.remove()
    },
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--seed')
  if (i === -1) {
    process.stderr.write('usage: azure-blob-double.mjs --seed SEED.json (blobs: {"account/container/name": "text"})\n')
    process.exit(2)
  }
  const seed = JSON.parse(readFileSync(process.argv[i + 1], 'utf8'))
  const doubles = await startAzureDoubles(seed)
  for (const [path, text] of Object.entries(seed.blobs ?? {})) {
    const [account, container, ...rest] = path.split('/')
    putBlob(doubles.world, account, container, rest.join('/'), text)
  }
  process.stdout.write(JSON.stringify({arm: doubles.arm.url, blob: doubles.blob.url, ca: doubles.caPath}) + '\n')
  const stop = () => doubles.stop().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
