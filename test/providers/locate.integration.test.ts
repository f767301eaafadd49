/**
 * Provider.locate on each cloud's back-end, with the operator's credentials as the preflight uses
 * them: the S3 bucket's Region (moto), the GCS bucket's location and location type (the GCS
 * double), the Azure storage account's region (the ARM double). Where the operator may not read
 * it, the answer is "unknown" with the cloud's reason, never a guessed location.
 */
import {CreateBucketCommand} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {AzureDoubles} from '../../emulators/azure-blob-double.mjs'
import {createAzureClients} from '../../src/clients/azure/index.js'
import {createContext} from '../../src/context.js'
import {awsProvider} from '../../src/providers/aws/index.js'
import {azureProvider} from '../../src/providers/azure/index.js'
import {gcpProvider} from '../../src/providers/gcp/index.js'
import {defaultSourceLocator} from '../../src/ingest/preflight.js'
import {parseSource} from '../../src/source.js'
import {ACCOUNT, ADMIN, CONTAINER, INGEST, RESOURCE_GROUP, standardSeed, startDoubles, SUBSCRIPTION, useIdentityInProcess, type TestIdentity} from '../helpers/azure.js'
import {baseEnv} from '../helpers/cli.js'
import {ADMIN_TOKEN, gcsEnv, INGEST_TOKEN, startGcs, type GcsDouble} from '../helpers/gcs.js'
import {startMoto, type Moto, type TestIdentity as AwsIdentity} from '../helpers/moto.js'

describe('locate on S3 (moto)', () => {
  let moto: Moto
  let unlisting: AwsIdentity
  beforeAll(async () => {
    moto = await startMoto({auth: true})
    await moto.clients().s3.send(new CreateBucketCommand({Bucket: 'eu-scans', CreateBucketConfiguration: {LocationConstraint: 'eu-west-1'}}))
    await moto.clients().s3.send(new CreateBucketCommand({Bucket: 'us-scans'}))
    // HeadBucket is authorised as s3:ListBucket: this operator is refused it.
    unlisting = await moto.createUserWithPolicy('no-list', {Version: '2012-10-17', Statement: [{Effect: 'Allow', Action: '*', Resource: '*'}, {Effect: 'Deny', Action: 's3:ListBucket', Resource: '*'}]})
  }, 60_000)
  afterAll(async () => moto?.stop())

  const locate = (url: string, creds?: AwsIdentity['credentials']) => {
    const env = baseEnv(moto.credentialsEnv(creds))
    const ctx = createContext({env, quiet: true})
    const options = awsProvider.readOptions({flags: {'endpoint-url': moto.endpoint}, env, purpose: 'preflight'})
    return awsProvider.locate(ctx, parseSource(url), options)
  }

  it('names the bucket Region from HeadBucket, also when HeadBucket is refused; a missing bucket is unknown with why', async () => {
    expect(await locate('s3://eu-scans/dicom')).toEqual({known: true, location: 'eu-west-1', locationType: 'region', via: 'HeadBucket x-amz-bucket-region'})
    expect(await locate('s3://us-scans')).toMatchObject({known: true, location: 'us-east-1'})
    expect(await locate('s3://eu-scans/dicom', unlisting.credentials)).toEqual({known: true, location: 'eu-west-1', locationType: 'region', via: 'x-amz-bucket-region of a refused HeadBucket'})
    // The preflight's locator: the registry's provider, its options from the start command's flags.
    const env = baseEnv(moto.credentialsEnv())
    expect(await defaultSourceLocator(createContext({env, quiet: true}), parseSource('s3://eu-scans/dicom'), {cloudFlags: {'endpoint-url': moto.endpoint}, live: false})).toMatchObject({known: true, location: 'eu-west-1'})
    const missing = await locate('s3://no-such-bucket-here/dicom')
    expect(missing.known).toBe(false)
    expect(missing).toMatchObject({reason: expect.stringContaining('no-such-bucket-here')})
  })
})

describe('locate on GCS (the double)', () => {
  let double: GcsDouble
  beforeAll(async () => {
    double = await startGcs()
    double.createBucket('regional-bkt', {location: 'us-central1'})
    double.createBucket('multi-bkt', {location: 'EU'})
    double.createBucket('dual-bkt', {location: 'NAM4'})
  })
  afterAll(async () => double?.stop())

  const locate = (url: string, token = ADMIN_TOKEN) => {
    const env = gcsEnv(double, token)
    const ctx = createContext({env, quiet: true})
    const options = gcpProvider.readOptions({flags: {'endpoint-url': double.url}, env, purpose: 'preflight'})
    return gcpProvider.locate(ctx, parseSource(url), options)
  }

  it('reads location and locationType from the bucket metadata, as the JSON API spells them', async () => {
    expect(await locate('gs://regional-bkt/dicom')).toEqual({known: true, location: 'US-CENTRAL1', locationType: 'region', via: 'storage.buckets.get'})
    expect(await locate('gs://multi-bkt')).toMatchObject({known: true, location: 'EU', locationType: 'multi-region'})
    expect(await locate('gs://dual-bkt')).toMatchObject({known: true, location: 'NAM4', locationType: 'dual-region'})
    const env = gcsEnv(double, ADMIN_TOKEN)
    expect(await defaultSourceLocator(createContext({env, quiet: true}), parseSource('gs://dual-bkt/x'), {cloudFlags: {'endpoint-url': double.url}, live: false})).toMatchObject({known: true, location: 'NAM4'})
  })

  it('the double answers the metadata as the API does: rpo only for dual- and multi-regions', async () => {
    const get = async (b: string) => (await fetch(`${double.url}/storage/v1/b/${b}`, {headers: {authorization: `Bearer ${ADMIN_TOKEN}`}})).json()
    expect(await get('regional-bkt')).toMatchObject({location: 'US-CENTRAL1', locationType: 'region'})
    expect(await get('regional-bkt')).not.toHaveProperty('rpo')
    expect(await get('dual-bkt')).toMatchObject({locationType: 'dual-region', rpo: 'DEFAULT'})
  })

  it('an operator who may not get the bucket: unknown, with the refusal', async () => {
    const r = await locate('gs://regional-bkt/dicom', INGEST_TOKEN)
    expect(r.known).toBe(false)
    expect(r).toMatchObject({reason: expect.stringMatching(/403|permission|denied/i)})
  })
})

describe('locate on Azure (the ARM double)', () => {
  let d: AzureDoubles
  beforeAll(async () => {
    const seed = standardSeed()
    d = await startDoubles({...seed, accounts: [{name: ACCOUNT, resourceGroup: RESOURCE_GROUP, containers: [CONTAINER], location: 'brazilsouth'}]})
  })
  afterAll(async () => d?.stop())

  const locate = (who: TestIdentity, flags: Record<string, unknown>) => {
    useIdentityInProcess(who)
    const env = {...process.env}
    const ctx = createContext({env, quiet: true, clients: {azure: (o) => createAzureClients({...o, caCertificate: d.ca}, env)}})
    const options = azureProvider.readOptions({flags: {'arm-endpoint': d.arm.url, ...flags}, env: {}, purpose: 'preflight'})
    return azureProvider.locate(ctx, parseSource(`az://${ACCOUNT}/${CONTAINER}/dicom`), options)
  }

  it('reads the storage account location from Resource Manager, with or without --resource-group', async () => {
    expect(await locate(ADMIN, {subscription: SUBSCRIPTION, 'resource-group': RESOURCE_GROUP})).toEqual({known: true, location: 'brazilsouth', locationType: 'region', via: 'storageAccounts get (Resource Manager)'})
    expect(await locate(ADMIN, {subscription: SUBSCRIPTION})).toMatchObject({known: true, location: 'brazilsouth', via: 'storageAccounts list (Resource Manager)'})
  })

  it('no subscription, or an identity that may not read the account: unknown, with why', async () => {
    expect(await locate(ADMIN, {})).toEqual({known: false, reason: expect.stringContaining('no subscription given')})
    const refused = await locate(INGEST, {subscription: SUBSCRIPTION, 'resource-group': RESOURCE_GROUP})
    expect(refused.known).toBe(false)
    expect(refused).toMatchObject({reason: expect.stringMatching(/AuthorizationFailed|not authori[sz]ed|denied|may not/i)})
  })
})
