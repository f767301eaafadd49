/**
 * The GCS client port against the double, through the real @google-cloud/storage and
 * google-auth-library: token credentials, impersonation through IAM Credentials (endpoint
 * override), identity through tokeninfo, and every error the product explains, classified.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createGcpClients, type GcpClientOptions} from '../../src/clients/gcp.js'
import {classifyGcpError} from '../../src/clients/gcp-errors.js'
import {redact} from '../../src/output/redact.js'
import {ADMIN_TOKEN, INGEST_EMAIL, INGEST_MEMBER, INGEST_TOKEN, startGcs, SUPPORT_TOKEN, type GcsDouble} from '../helpers/gcs.js'

describe('GCS client port', () => {
  let double: GcsDouble
  let opts: GcpClientOptions
  const env = (token?: string): NodeJS.ProcessEnv => ({METADATA_SERVER_DETECTION: 'none', ...(token ? {GOOGLE_OAUTH_ACCESS_TOKEN: token} : {})})
  beforeAll(async () => {
    double = await startGcs()
    double.createBucket('b1')
    double.putObject('b1', 'dicom/a.dcm', '0123456789')
    double.putObject('b1', 'dicom/empty', '')
    double.createBucket('rp', {requesterPays: true})
    double.createBucket('fine', {uniformBucketLevelAccess: false})
    opts = {endpointUrl: double.url, iamCredentialsEndpoint: double.url, tokenInfoUrl: `${double.url}/tokeninfo`}
  })
  afterAll(() => double?.stop())

  it('reads bucket settings, the policy and listings as the admin; the token is registered as a secret', async () => {
    const c = await createGcpClients(opts, env(ADMIN_TOKEN))
    expect(c.credentialSource).toBe('GOOGLE_OAUTH_ACCESS_TOKEN')
    expect(await c.getBucket('b1')).toMatchObject({uniformBucketLevelAccess: true, requesterPays: false})
    expect((await c.getIamPolicy('b1')).etag).toMatch(/=|[A-Za-z0-9+/]{8}/)
    expect(await c.listPage('b1', 'dicom/')).toEqual({objects: [{key: 'dicom/a.dcm', size: 10}, {key: 'dicom/empty', size: 0}], nextToken: undefined})
    expect(await c.identity()).toBe('admin@customer.example')
    expect(redact(`token ${ADMIN_TOKEN}`)).toBe('token [REDACTED]')
  })

  it('pages listings', async () => {
    const c = await createGcpClients(opts, env(ADMIN_TOKEN))
    const first = await c.listPage('b1', 'dicom/', undefined, 1)
    expect(first.objects).toHaveLength(1)
    const second = await c.listPage('b1', 'dicom/', first.nextToken, 1)
    expect(second.objects.map((o) => o.key)).toEqual(['dicom/empty'])
  })

  it('impersonates the ingest service account through IAM Credentials, and reads ranges as it', async () => {
    double.setPolicy('b1', [...double.getPolicy('b1').bindings, {role: 'roles/storage.objectViewer', members: [INGEST_MEMBER]}], 1)
    const c = await createGcpClients({...opts, impersonate: INGEST_EMAIL}, env(SUPPORT_TOKEN))
    expect(await c.identity()).toBe(INGEST_EMAIL)
    expect(Buffer.from(await c.readRange('b1', 'dicom/a.dcm', 2, 4)).toString()).toBe('234')
    expect(Buffer.from(await c.readRange('b1', 'dicom/a.dcm', 8, 100)).toString()).toBe('89')
    expect(await c.readRange('b1', 'dicom/empty', 0, 10)).toHaveLength(0)
    expect(double.requests.some((r) => r.op === 'iamcredentials.generateAccessToken' && r.status === 200)).toBe(true)
    expect(double.requests.at(-1)?.member).toBe(INGEST_MEMBER)
    const chunks: Buffer[] = []
    for await (const chunk of (await c.openStream('b1', 'dicom/a.dcm')) as AsyncIterable<Buffer>) chunks.push(chunk)
    expect(Buffer.concat(chunks).toString()).toBe('0123456789')
  })

  it('classifies the errors the product explains', async () => {
    const admin = await createGcpClients(opts, env(ADMIN_TOKEN))
    const ingest = await createGcpClients(opts, env(INGEST_TOKEN))
    await expect(ingest.getBucket('b1')).rejects.toMatchObject({code: 'ACCESS_DENIED', kind: 'access-denied', exitCode: 4, data: {gcp: {permission: 'storage.buckets.get', httpStatus: 403}}})
    await expect(admin.getBucket('nope-bucket')).rejects.toMatchObject({code: 'NO_SUCH_BUCKET', kind: 'not-found'})
    await expect(ingest.openStream('b1', 'dicom/missing')).rejects.toMatchObject({kind: 'not-found'})
    await expect(admin.listPage('rp', '')).rejects.toMatchObject({code: 'REQUESTER_PAYS'})
    expect(await (await createGcpClients({...opts, project: 'billing-proj'}, env(ADMIN_TOKEN))).listPage('rp', '')).toEqual({objects: [], nextToken: undefined})
    const stale = await admin.getIamPolicy('b1')
    double.setPolicy('b1', stale.bindings, 1)
    await expect(admin.setIamPolicy('b1', stale)).rejects.toMatchObject({data: {gcp: {cause: 'stale-etag', httpStatus: 412}}})
    const fine = await admin.getIamPolicy('fine')
    const conditional = {...fine, version: 3, bindings: [...fine.bindings, {role: 'roles/storage.objectViewer', members: [INGEST_MEMBER], condition: {title: 't', expression: 'resource.name.startsWith("projects/_/buckets/fine/objects/x/")'}}]}
    await expect(admin.setIamPolicy('fine', conditional)).rejects.toMatchObject({data: {gcp: {cause: 'ubla-required'}}})
    double.updateBucket('fine', {allowedMemberDomains: ['customer.example']})
    await expect(admin.setIamPolicy('fine', {...fine, bindings: [...fine.bindings, {role: 'roles/storage.objectViewer', members: [INGEST_MEMBER]}]})).rejects.toMatchObject({data: {gcp: {cause: 'org-domain-restricted'}}})
    await expect((await createGcpClients(opts, env('ya29.unknown'))).getBucket('b1')).rejects.toMatchObject({code: 'UNAUTHENTICATED', kind: 'credentials', exitCode: 3})
    await expect((await createGcpClients({...opts, impersonate: INGEST_EMAIL}, env(ADMIN_TOKEN))).getBucket('b1')).rejects.toMatchObject({code: 'IMPERSONATION_DENIED', exitCode: 3})
    await expect((await createGcpClients({...opts, endpointUrl: 'http://127.0.0.1:9'}, env(ADMIN_TOKEN))).getBucket('b1')).rejects.toMatchObject({code: 'NETWORK', kind: 'network'})
  }, 60_000)

  it('without any credentials says how to get them (no metadata server probe)', async () => {
    const c = await createGcpClients(opts, env())
    const saved = {...process.env}
    process.env.METADATA_SERVER_DETECTION = 'none'
    process.env.GOOGLE_APPLICATION_CREDENTIALS = '/nonexistent/adc.json'
    try {
      await expect(c.getBucket('b1')).rejects.toMatchObject({exitCode: 3, kind: 'credentials'})
    } finally {
      process.env = saved
    }
  })

  it.each([
    [Object.assign(new Error('request failed'), {cause: {code: 'ECONNREFUSED'}}), 'network'],
    [{code: 412, message: 'Precondition Failed', errors: [{reason: 'conditionNotMet'}]}, 'stale-etag'],
    [{code: 412, message: 'IAM conditions cannot be set on a bucket that does not have uniform bucket-level access enabled.', errors: [{reason: 'conditionNotMet'}]}, 'ubla-required'],
    [{code: 412, message: "Request violates constraint 'constraints/storage.uniformBucketLevelAccess'", errors: [{reason: 'conditionNotMet'}]}, 'org-constraint'],
    [{code: 412, message: 'One or more users named in the policy do not belong to a permitted customer, perhaps due to an organization policy.'}, 'org-domain-restricted'],
    [{code: 403, message: 'Request is prohibited by organization\'s policy. vpcServiceControlsUniqueIdentifier: abc', errors: [{reason: 'vpcServiceControls'}]}, 'vpc-service-controls'],
    [{code: 412, message: 'The member bindings allUsers and allAuthenticatedUsers are not allowed since public access prevention is enforced.'}, 'public-access-prevention'],
    [{code: 429, message: 'rate'}, 'throttled'],
    [{response: {status: 403, data: {error: {code: 403, message: "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).", status: 'PERMISSION_DENIED'}}}}, 'impersonation-denied'],
  ])('classifies %o as %s', (error, cause) => {
    expect(classifyGcpError(error).cause).toBe(cause)
  })
})
