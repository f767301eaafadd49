/**
 * The live layer with the AWS ports replaced (one seam): what moto cannot produce (S3 reporting a
 * KMS refusal, the region header on a 403, an expired session) and the --wait mechanics with a
 * short backoff. The integration tests run the same layer against moto.
 */
import {describe, expect, it} from 'vitest'

import type {AwsClientOptions, AwsClients} from '../../../src/clients/aws/index.js'
import {createContext} from '../../../src/context.js'
import {AppError} from '../../../src/errors.js'
import {redact} from '../../../src/output/redact.js'
import {parseCheckPrincipal, remedyCommands} from '../../../src/providers/aws/check-common.js'
import {runLiveLayer} from '../../../src/providers/aws/check-live.js'
import type {AwsRequest} from '../../../src/providers/aws/options.js'
import type {CheckOptions} from '../../../src/providers/types.js'
import {parseSource} from '../../../src/source.js'

const ROLE = 'arn:aws:iam::444455556666:role/ingest'
const SESSION = 'arn:aws:sts::444455556666:assumed-role/ingest/ingestgate-check'
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'

const sdkError = (name: string, status: number, message = name) => Object.assign(new Error(message), {name, $metadata: {httpStatusCode: status}})

interface Fake {
  calls: string[]
  inFlight: number
  maxInFlight: number
  options: AwsClientOptions[]
}

type Behaviour = Partial<{
  caller: string
  objects: Array<{key: string; size: number}>
  list: () => unknown
  head: () => unknown
  get: (key: string, n: number) => unknown
  attrs: (key: string, n: number) => unknown
}>

function fakeAws(b: Behaviour, fake: Fake, options: AwsClientOptions): AwsClients {
  fake.options.push(options)
  const counts = new Map<string, number>()
  const step = async <T>(name: string, fn: () => T): Promise<T> => {
    fake.calls.push(name)
    const n = (counts.get(name) ?? 0) + 1
    counts.set(name, n)
    fake.inFlight++
    fake.maxInFlight = Math.max(fake.maxInFlight, fake.inFlight)
    try {
      await new Promise((r) => setTimeout(r, 5))
      return fn()
    } finally {
      fake.inFlight--
    }
  }
  const run = (name: string, fn: (() => unknown) | undefined, dflt: unknown) =>
    step(name, () => {
      const v = fn ? fn() : dflt
      if (v instanceof Error) throw v
      return v as never
    })
  return {
    options,
    callerIdentity: async () => ({account: '444455556666', arn: b.caller ?? SESSION}),
    assumeRole: async (input: {roleArn: string; externalId?: string}) => {
      fake.calls.push(`AssumeRole ${input.roleArn} ${input.externalId ?? ''}`)
      return {credentials: {accessKeyId: 'ASIAFAKEFAKEFAKE', secretAccessKey: 'secret-of-the-assumed-session-0123456789', sessionToken: 'token-of-the-session'}, assumedRoleArn: SESSION}
    },
    s3: {
      listPage: () => run('ListObjectsV2', b.list, {objects: b.objects ?? []}),
      probeBucket: () => run('HeadBucket', b.head, {region: 'us-east-1'}),
      probeObject: (_b: string, key: string) => {
        const n = (counts.get(`GetObject ${key}`) ?? 0) + 1
        return run(`GetObject ${key}`, b.get ? () => b.get!(key, n) : undefined, {bytesRead: 1})
      },
      getAttributes: (_b: string, key: string) => {
        const n = (counts.get(`GetObjectAttributes ${key}`) ?? 0) + 1
        return run(`GetObjectAttributes ${key}`, b.attrs ? () => b.attrs!(key, n) : undefined, {etag: 'e', size: 1})
      },
    },
  } as unknown as AwsClients
}

function setup(b: Behaviour, opts: Partial<CheckOptions> = {}) {
  const fake: Fake = {calls: [], inFlight: 0, maxInFlight: 0, options: []}
  const info: string[] = []
  const ui = {out: () => {}, info: (t: string) => info.push(t), warn: () => {}, color: createContext().ui.color}
  const ctx = createContext({ui, clients: {aws: async (o) => fakeAws(b, fake, o)}})
  const req: AwsRequest = {source: parseSource('s3://data/dicom'), principal: ROLE, options: {kmsKeys: [], cloud: {profile: 'admin'}, live: {assumeRole: ROLE, externalId: 'ext-1'}}}
  const principal = parseCheckPrincipal(ROLE)
  const options: CheckOptions = {static: false, live: true, sample: 20, waitMs: 0, backoff: {initialMs: 5, maxMs: 20}, ...opts}
  return {fake, info, run: (input = {}) => runLiveLayer(ctx, req, options, principal, remedyCommands(req, principal), input)}
}

const sample = [
  {key: 'dicom/a.dcm', size: 10},
  {key: 'dicom/enc.dcm', size: 10},
  {key: 'dicom/empty', size: 0},
]

describe('live layer (ports replaced)', () => {
  it('assumes the role with the operator profile and ExternalId, then runs every probe as the session', async () => {
    const {fake, run} = setup({})
    const out = await run({sample, keys: [{key: KEY, object: 'dicom/enc.dcm'}]})
    expect(fake.calls[0]).toBe(`AssumeRole ${ROLE} ext-1`)
    expect(fake.options[0]).toMatchObject({profile: 'admin'})
    expect(fake.options[1].credentials?.accessKeyId).toBe('ASIAFAKEFAKEFAKE')
    expect(out.identity).toBe(SESSION)
    expect(out.rows.every((r) => r.outcome === 'pass' && r.layer === 'live')).toBe(true)
    expect(out.rows.map((r) => r.operation).sort()).toEqual(['decrypt', 'get', 'get', 'get', 'get-attributes', 'get-attributes', 'get-attributes', 'list', 'region'])
    // The assumed session's secrets are registered for redaction.
    expect(redact('x secret-of-the-assumed-session-0123456789 token-of-the-session')).toBe('x [REDACTED] [REDACTED]')
  })

  it('with a static sample, all probes go out in one concurrent round', async () => {
    const {fake, run} = setup({})
    await run({sample, keys: []})
    expect(fake.maxInFlight).toBe(2 + sample.length * 2)
  })

  it('without one, lists first and then reads the spread sample (two rounds), finding the KMS keys from the reads', async () => {
    const objects = Array.from({length: 50}, (_, i) => ({key: `dicom/${String(i).padStart(2, '0')}.dcm`, size: 5}))
    const {fake, run} = setup({objects, get: (key) => (key === 'dicom/49.dcm' ? {bytesRead: 1, serverSideEncryption: 'aws:kms', kmsKeyId: KEY} : {bytesRead: 1})}, {sample: 5})
    const out = await run()
    const gets = fake.calls.filter((c) => c.startsWith('GetObject ')).map((c) => c.slice(10))
    expect(gets).toEqual(['dicom/00.dcm', 'dicom/12.dcm', 'dicom/25.dcm', 'dicom/37.dcm', 'dicom/49.dcm'])
    expect(out.rows.find((r) => r.operation === 'decrypt')).toMatchObject({resource: KEY, outcome: 'pass', cause: expect.stringContaining('dicom/49.dcm')})
  })

  it('maps S3\'s KMS refusal to a decrypt failure whose remedy is the grant (and --wait)', async () => {
    const kmsDenied = sdkError('AccessDenied', 403, 'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.')
    const {run} = setup({get: (key) => (key === 'dicom/enc.dcm' ? kmsDenied : {bytesRead: 1})})
    const out = await run({sample, keys: [{key: KEY, object: 'dicom/enc.dcm'}]})
    const decrypt = out.rows.find((r) => r.operation === 'decrypt')!
    expect(decrypt).toMatchObject({outcome: 'fail', code: 'kms-access-denied', decidedBy: ['GetObject s3://data/dicom/enc.dcm: AccessDenied (HTTP 403)']})
    expect(decrypt.remedy).toContain(`ingestgate grant apply s3://data/dicom --principal ${ROLE} --profile admin --kms-key ${KEY}`)
    expect(decrypt.remedy).toContain('--wait 5m')
    expect(out.rows.filter((r) => r.outcome === 'fail').map((r) => r.operation).sort()).toEqual(['decrypt', 'get'])
  })

  it('a plain AccessDenied says which side refuses when the static layer passed it', async () => {
    const {run} = setup({attrs: () => sdkError('AccessDenied', 403, 'Access Denied')})
    const staticRows = sample.map((o) => ({operation: 'get-attributes' as const, resource: `s3://data/${o.key}`, layer: 'static' as const, outcome: 'pass' as const, code: 'allowed', cause: '', decidedBy: [], remedy: ''}))
    const out = await run({sample, keys: [], staticRows})
    const row = out.rows.find((r) => r.operation === 'get-attributes')!
    expect(row).toMatchObject({outcome: 'fail', code: 'access-denied'})
    expect(row.cause).toMatch(/refusal comes from the principal's side/)
    expect(row.remedy).toMatch(/Allow s3:GetObject and s3:GetObjectAttributes in an identity policy of/)
  })

  it('a refused HeadBucket still passes region when S3 names the region (as AWS does on a 403)', async () => {
    const e = new AppError('ACCESS_DENIED', 'denied', 4, {cause: sdkError('Unknown', 403), data: {region: 'eu-west-1'}})
    const {fake, run} = setup({head: () => e}, {waitMs: 5000})
    const out = await run({sample, keys: []})
    expect(out.rows.find((r) => r.operation === 'region')).toMatchObject({outcome: 'pass', code: 'region-from-error', cause: expect.stringContaining('eu-west-1')})
    // It passes, so --wait has nothing to retry.
    expect(fake.calls.filter((c) => c === 'HeadBucket')).toHaveLength(1)
  })

  it('an expired session is unknown, a deleted object is skipped, an empty object is read whole', async () => {
    const {run} = setup({
      get: (key) => (key === 'dicom/a.dcm' ? sdkError('NoSuchKey', 404) : key === 'dicom/enc.dcm' ? sdkError('ExpiredToken', 400) : {bytesRead: 0}),
    })
    const out = await run({sample, keys: []})
    const get = (k: string) => out.rows.find((r) => r.operation === 'get' && r.resource === `s3://data/${k}`)
    expect(get('dicom/a.dcm')).toMatchObject({outcome: 'skip', code: 'no-such-key'})
    expect(get('dicom/enc.dcm')).toMatchObject({outcome: 'unknown', code: 'expired-token'})
    expect(get('dicom/empty')).toMatchObject({outcome: 'pass'})
  })

  it('refuses to run as anyone but the principal', async () => {
    const {run} = setup({caller: 'arn:aws:iam::444455556666:user/admin'})
    await expect(run({sample, keys: []})).rejects.toMatchObject({code: 'LIVE_NOT_PRINCIPAL', exitCode: 3})
  })

  it('--wait retries only the failing calls, with backoff, until they pass, saying what still fails', async () => {
    const {fake, info, run} = setup({attrs: (_key, n) => (n < 3 ? sdkError('AccessDenied', 403) : {etag: 'e', size: 1})}, {waitMs: 10_000})
    const out = await run({sample, keys: []})
    expect(out.rows.every((r) => r.outcome === 'pass')).toBe(true)
    expect(fake.calls.filter((c) => c === 'ListObjectsV2')).toHaveLength(1)
    expect(fake.calls.filter((c) => c.startsWith('GetObjectAttributes'))).toHaveLength(sample.length * 3)
    expect(info[0]).toMatch(/3 call\(s\) still failing after .*get-attributes s3:\/\/data\/dicom\/a\.dcm \(access-denied\)/)
    expect(info.at(-1)).toMatch(/All live calls pass after/)
  })

  it('--wait gives up at the deadline and reports the failures', async () => {
    const {info, run} = setup({list: () => sdkError('AccessDenied', 403)}, {waitMs: 60})
    const started = Date.now()
    const out = await run({sample, keys: []})
    expect(Date.now() - started).toBeLessThan(2000)
    expect(out.rows.find((r) => r.operation === 'list')).toMatchObject({outcome: 'fail', code: 'access-denied'})
    expect(info.at(-1)).toMatch(/Gave up waiting after .*: 1 call\(s\) still failing/)
  })
})
