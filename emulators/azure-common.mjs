/**
 * What the Azure test doubles share: the self-signed certificate they serve HTTPS with, the tokens
 * (JWTs, as Entra ID issues them) and the RBAC model (role definitions, assignments, deny
 * assignments, ABAC conditions) that both the management plane and the blob data plane enforce.
 *
 * Plain ESM JavaScript with JSDoc, no build step: the demo, the tests and a shell can all start it.
 * Nothing here is imported by ingestgate's own sources: the product talks to these doubles only
 * through the real Azure SDKs, over HTTPS on 127.0.0.1.
 */
import {execFileSync} from 'node:child_process'
import {createHmac, timingSafeEqual} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export const OPENSSL = '/usr/bin/openssl'

/**
 * A fresh self-signed certificate for 127.0.0.1 and localhost, made with openssl (Node has no X.509
 * writer). The Azure SDKs send bearer tokens only over HTTPS, so the doubles need one; clients
 * trust it through NODE_EXTRA_CA_CERTS (the CLI) or an explicit CA (in-process tests).
 * @param {string} dir where cert.pem and key.pem are written
 * @param {string} [openssl] the openssl binary
 * @returns {{cert: string, key: string, certPath: string, keyPath: string}}
 */
export function generateCertificate(dir, openssl = OPENSSL) {
  if (!existsSync(openssl)) {
    throw new Error(`The Azure test doubles serve HTTPS with a self-signed certificate made by ${openssl}, which is missing. Install openssl (apt-get install openssl).`)
  }
  const certPath = join(dir, 'cert.pem')
  const keyPath = join(dir, 'key.pem')
  execFileSync(openssl, [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-keyout', keyPath, '-out', certPath,
    '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-addext', 'basicConstraints=critical,CA:TRUE',
  ], {stdio: ['ignore', 'ignore', 'pipe']})
  return {cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), certPath, keyPath}
}

/** A scratch directory removed by the returned function. */
export function scratchDir(prefix = 'azure-double-') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {dir, remove: () => rmSync(dir, {recursive: true, force: true})}
}

const b64url = (/** @type {Buffer|string} */ b) => Buffer.from(b).toString('base64url')

/**
 * An HTTPS server on 127.0.0.1 for a double (a new self-signed certificate unless `opts.tls` gives
 * one): each request is handed to `handle` with its whole body; what `handle` throws goes to `fail`.
 * @param {{tls?: {cert: string, key: string, certPath?: string}, port?: number}} opts
 * @param {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, body: Buffer) => void} handle
 * @param {(res: import('node:http').ServerResponse, error: unknown) => void} fail
 */
export async function serveHttps(opts, handle, fail) {
  let scratch
  let tls = opts.tls
  if (!tls) {
    scratch = scratchDir()
    tls = generateCertificate(scratch.dir)
  }
  const server = createServer({cert: tls.cert, key: tls.key}, (req, res) => {
    const chunks = []
    req.on('data', (d) => chunks.push(d))
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks))
      } catch (error) {
        fail(res, error)
      }
    })
  })
  await new Promise((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve))
  const port = server.address().port
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    ca: tls.cert,
    caPath: tls.certPath,
    async stop() {
      server.closeAllConnections?.()
      await new Promise((resolve) => server.close(() => resolve()))
      scratch?.remove()
    },
  }
}

/**
 * Sign a token the way Entra ID shapes one (a JWT with aud, iss, oid, tid, nbf, exp), with HS256
 * and the identity's own key instead of Microsoft's RSA keys. The doubles verify the signature,
 * the lifetime and the audience, as Azure does; Azurite accepts the same tokens (it checks shape,
 * issuer, audience and lifetime only).
 * @param {{oid: string, tid: string, key: string, aud: string, appid?: string, lifetimeSeconds?: number, now?: number}} p
 */
export function signToken(p) {
  const now = Math.floor((p.now ?? Date.now()) / 1000)
  const header = {alg: 'HS256', typ: 'JWT'}
  const payload = {
    aud: p.aud,
    iss: `https://sts.windows.net/${p.tid}/`,
    iat: now,
    nbf: now - 60,
    exp: now + (p.lifetimeSeconds ?? 3600),
    oid: p.oid,
    sub: p.oid,
    tid: p.tid,
    ...(p.appid ? {appid: p.appid, idtyp: 'app'} : {}),
  }
  const body = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`
  return `${body}.${createHmac('sha256', p.key).update(body).digest('base64url')}`
}

/**
 * Read a bearer token: the identity it names, if its signature, lifetime and audience are good.
 * @param {string|undefined} authorization the Authorization header
 * @param {Map<string, {oid: string, key: string}>} identities by object id
 * @param {(aud: string) => boolean} audienceOk
 * @returns {{ok: true, identity: any, claims: any} | {ok: false, why: 'missing'|'malformed'|'signature'|'expired'|'audience'|'unknown', claims?: any}}
 */
export function verifyToken(authorization, identities, audienceOk) {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')
  if (!m) return {ok: false, why: 'missing'}
  const parts = m[1].split('.')
  if (parts.length !== 3) return {ok: false, why: 'malformed'}
  let claims
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
  } catch {
    return {ok: false, why: 'malformed'}
  }
  const identity = identities.get(String(claims.oid ?? '').toLowerCase())
  if (!identity) return {ok: false, why: 'unknown', claims}
  const expected = createHmac('sha256', identity.key).update(`${parts[0]}.${parts[1]}`).digest()
  const given = Buffer.from(parts[2], 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return {ok: false, why: 'signature', claims}
  const now = Date.now() / 1000
  if (typeof claims.exp !== 'number' || now > claims.exp || (typeof claims.nbf === 'number' && now < claims.nbf)) return {ok: false, why: 'expired', claims}
  if (!audienceOk(String(claims.aud ?? ''))) return {ok: false, why: 'audience', claims}
  return {ok: true, identity, claims}
}

// ---------------------------------------------------------------------------------------------
// RBAC: built-in role definitions (ids and permissions as Azure publishes them, trimmed to the
// actions that matter here), wildcard matching, scopes, conditions.

const STORAGE = 'Microsoft.Storage/storageAccounts'
const BLOBS = `${STORAGE}/blobServices/containers/blobs`

/** @type {Array<{name: string, roleName: string, actions: string[], notActions?: string[], dataActions?: string[], notDataActions?: string[]}>} */
export const BUILT_IN_ROLES = [
  {name: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635', roleName: 'Owner', actions: ['*']},
  {
    name: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
    roleName: 'Contributor',
    actions: ['*'],
    notActions: ['Microsoft.Authorization/*/Delete', 'Microsoft.Authorization/*/Write', 'Microsoft.Authorization/elevateAccess/Action', 'Microsoft.Blueprint/blueprintAssignments/write', 'Microsoft.Blueprint/blueprintAssignments/delete', 'Microsoft.Compute/galleries/share/action'],
  },
  {name: 'acdd72a7-3385-48ef-bd42-f606fba81ae7', roleName: 'Reader', actions: ['*/read']},
  {name: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9', roleName: 'User Access Administrator', actions: ['*/read', 'Microsoft.Authorization/*', 'Microsoft.Support/*']},
  {
    name: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
    roleName: 'Role Based Access Control Administrator',
    actions: ['Microsoft.Authorization/roleAssignments/write', 'Microsoft.Authorization/roleAssignments/delete', '*/read', 'Microsoft.Support/*'],
  },
  {name: '17d1049b-9a84-46fb-8f53-869881c3d3ab', roleName: 'Storage Account Contributor', actions: ['Microsoft.Authorization/*/read', 'Microsoft.Insights/alertRules/*', 'Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action', 'Microsoft.ResourceHealth/availabilityStatuses/read', 'Microsoft.Resources/deployments/*', 'Microsoft.Resources/subscriptions/resourceGroups/read', `${STORAGE}/*`, 'Microsoft.Support/*']},
  {
    name: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1',
    roleName: 'Storage Blob Data Reader',
    actions: [`${STORAGE}/blobServices/containers/read`, `${STORAGE}/blobServices/generateUserDelegationKey/action`],
    dataActions: [`${BLOBS}/read`],
  },
  {
    name: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
    roleName: 'Storage Blob Data Contributor',
    actions: [`${STORAGE}/blobServices/containers/delete`, `${STORAGE}/blobServices/containers/read`, `${STORAGE}/blobServices/containers/write`, `${STORAGE}/blobServices/generateUserDelegationKey/action`],
    dataActions: [`${BLOBS}/delete`, `${BLOBS}/read`, `${BLOBS}/write`, `${BLOBS}/move/action`, `${BLOBS}/add/action`],
  },
  {
    name: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
    roleName: 'Storage Blob Data Owner',
    actions: [`${STORAGE}/blobServices/containers/*`, `${STORAGE}/blobServices/generateUserDelegationKey/action`],
    dataActions: [`${BLOBS}/*`],
  },
]

/** Azure action wildcards: `*` matches any run of characters; comparison is case-insensitive. */
export function actionMatches(pattern, action) {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`, 'i')
  return re.test(action)
}

/** Whether a permission block allows `action` (control plane) or `dataAction` (data plane). */
export function permitsAction(permissions, action, data) {
  return permissions.some((p) => {
    const allow = data ? p.dataActions ?? [] : p.actions ?? []
    const deny = data ? p.notDataActions ?? [] : p.notActions ?? []
    return allow.some((a) => actionMatches(a, action)) && !deny.some((a) => actionMatches(a, action))
  })
}

/** `outer` is `inner` or one of its parents (scopes compare case-insensitively). */
export function scopeCovers(outer, inner) {
  const o = outer.replace(/\/+$/, '').toLowerCase()
  const i = inner.replace(/\/+$/, '').toLowerCase()
  return o === '' || o === i || i.startsWith(`${o}/`)
}

// ---------------------------------------------------------------------------------------------
// ABAC conditions (version 2.0): a small but real evaluator for the grammar Azure documents:
// ActionMatches{'...'}, SubOperationMatches{'...'}, @Resource[...]/@Request[...] attributes with
// the string operators, AND / OR / NOT / !, and parentheses. Anything it does not know is an error,
// which the data plane treats as "condition not met" (a refusal), never as an allow.

/**
 * @param {string} text
 * @returns {(ctx: {action: string, subOperation?: string, attributes: Record<string, string|undefined>}) => boolean}
 */
export function compileCondition(text) {
  const tokens = []
  const re = /\s*(?:(\()|(\))|(AND|&&)|(OR|\|\|)|(NOT\b|!)|(ActionMatches|SubOperationMatches)\s*\{\s*'((?:[^']|'')*)'\s*\}|@(Resource|Request|Principal|Environment)\[([^\]]+)\]\s*(StringEquals|StringNotEquals|StringStartsWith|StringNotStartsWith|StringLike|StringNotLike|StringEqualsIgnoreCase)\s*'((?:[^']|'')*)')/gy
  let pos = 0
  const src = text.trim()
  while (pos < src.length) {
    re.lastIndex = pos
    const m = re.exec(src)
    if (!m) throw new Error(`condition syntax error near: ${src.slice(pos, pos + 40)}`)
    pos = re.lastIndex
    if (m[1]) tokens.push({t: '('})
    else if (m[2]) tokens.push({t: ')'})
    else if (m[3]) tokens.push({t: 'and'})
    else if (m[4]) tokens.push({t: 'or'})
    else if (m[5]) tokens.push({t: 'not'})
    else if (m[6]) tokens.push({t: 'fn', fn: m[6], arg: m[7].replaceAll("''", "'")})
    else tokens.push({t: 'attr', source: m[8], name: m[9].trim(), op: m[10], value: m[11].replaceAll("''", "'")})
    while (pos < src.length && /\s/.test(src[pos])) pos++
  }
  let i = 0
  const peek = () => tokens[i]
  const expr = () => {
    let left = term()
    while (peek()?.t === 'or') {
      i++
      const l = left
      const r = term()
      left = (c) => l(c) || r(c)
    }
    return left
  }
  const term = () => {
    let left = factor()
    while (peek()?.t === 'and') {
      i++
      const l = left
      const r = factor()
      left = (c) => l(c) && r(c)
    }
    return left
  }
  const factor = () => {
    const tok = tokens[i++]
    if (!tok) throw new Error('condition ends too early')
    if (tok.t === 'not') {
      const inner = factor()
      return (c) => !inner(c)
    }
    if (tok.t === '(') {
      const inner = expr()
      if (tokens[i++]?.t !== ')') throw new Error('condition: missing )')
      return inner
    }
    if (tok.t === 'fn') {
      if (tok.fn === 'ActionMatches') return (c) => actionMatches(tok.arg, c.action)
      return (c) => (c.subOperation ?? '') === tok.arg
    }
    if (tok.t === 'attr') {
      const key = `${tok.source}:${tok.name}`
      return (c) => {
        const v = c.attributes[key]
        // A missing attribute makes every string operator false, as Azure evaluates it.
        if (v === undefined) return false
        switch (tok.op) {
          case 'StringEquals': return v === tok.value
          case 'StringEqualsIgnoreCase': return v.toLowerCase() === tok.value.toLowerCase()
          case 'StringNotEquals': return v !== tok.value
          case 'StringStartsWith': return v.startsWith(tok.value)
          case 'StringNotStartsWith': return !v.startsWith(tok.value)
          case 'StringLike': return actionMatches(tok.value, v)
          case 'StringNotLike': return !actionMatches(tok.value, v)
          default: return false
        }
      }
    }
    throw new Error(`condition: unexpected ${tok.t}`)
  }
  const fn = expr()
  if (i !== tokens.length) throw new Error('condition: trailing tokens')
  return fn
}
