/**
 * The static verdict mapping for check: evaluator answers -> row outcome, cause, decided-by and
 * remedy, per operation, with S3's and KMS's own rules. Pure: no AWS.
 */
import {describe, expect, it} from 'vitest'

import {decideS3, s3Requests, type IdentitySide, type RemedyContext, type S3Facts} from '../../../../src/providers/aws/policy/access.js'
import {decideDecrypt, type KmsKeyFacts} from '../../../../src/providers/aws/policy/kms-access.js'
import {lintBucketPolicy} from '../../../../src/providers/aws/policy/lint.js'
import type {IamPolicy, IamStatement} from '../../../../src/providers/aws/policy/types.js'

const OWNER = '111122223333'
const VENDOR = '444455556666'
const ROLE = `arn:aws:iam::${VENDOR}:role/ingest`
const LOCAL_ROLE = `arn:aws:iam::${OWNER}:role/ingest`
const KEY = `arn:aws:kms:us-east-1:${OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
const remedies: RemedyContext = {grantApply: 'ingestgate grant apply s3://data/dicom --principal R', checkLive: 'ingestgate check s3://data/dicom --live'}

const hidden: IdentitySide = {visible: false, policies: [], reason: 'other account'}
const readAll: IdentitySide = {
  visible: true,
  policies: [{name: 'role inline policy read', policy: {Version: '2012-10-17', Statement: [{Sid: 'Read', Effect: 'Allow', Action: ['s3:*', 'kms:Decrypt'], Resource: '*'}]}}],
}
const noPolicies: IdentitySide = {visible: true, policies: []}

const doc = (...Statement: IamStatement[]): IamPolicy => ({Version: '2012-10-17', Statement})
const grantDoc = (principal: string) =>
  doc(
    {Sid: 'List', Effect: 'Allow', Principal: {AWS: principal}, Action: 's3:ListBucket', Resource: 'arn:aws:s3:::data', Condition: {StringLike: {'s3:prefix': ['dicom', 'dicom*']}}},
    {Sid: 'Loc', Effect: 'Allow', Principal: {AWS: principal}, Action: 's3:GetBucketLocation', Resource: 'arn:aws:s3:::data'},
    {Sid: 'Read', Effect: 'Allow', Principal: {AWS: principal}, Action: ['s3:GetObject', 's3:GetObjectAttributes'], Resource: 'arn:aws:s3:::data/dicom*'},
  )

function facts(over: Partial<S3Facts> = {}): S3Facts {
  return {
    partition: 'aws',
    bucket: 'data',
    prefix: 'dicom',
    ownerAccount: OWNER,
    region: 'us-east-1',
    bucketPolicy: {state: 'ok', policy: grantDoc(ROLE)},
    principal: {arn: ROLE, accountId: VENDOR},
    identity: hidden,
    ...over,
  }
}

describe('decideS3: cross-account (the vendor side is not visible)', () => {
  it('passes on the bucket side alone and says the vendor side was not seen', () => {
    const d = decideS3('list', facts(), remedies)
    expect(d).toMatchObject({outcome: 'pass', code: 'allowed-resource-side', customerSideOnly: true, decidedBy: ['bucket policy "List" (#0)']})
    expect(d.cause).toMatch(/account 444455556666\) cannot be seen from here/)
  })

  it('get-attributes needs both s3:GetObject and s3:GetObjectAttributes', () => {
    const onlyGet = facts({
      bucketPolicy: {state: 'ok', policy: doc({Sid: 'Read', Effect: 'Allow', Principal: {AWS: ROLE}, Action: 's3:GetObject', Resource: 'arn:aws:s3:::data/*'})},
    })
    expect(decideS3('get', onlyGet, remedies, 'dicom/a.dcm').outcome).toBe('pass')
    const attrs = decideS3('get-attributes', onlyGet, remedies, 'dicom/a.dcm')
    expect(attrs).toMatchObject({outcome: 'fail', code: 'implicit-deny', remedy: remedies.grantApply})
    expect(attrs.cause).toMatch(/^s3:GetObjectAttributes is not allowed/)
  })

  it('no statement for the role: implicit deny, the remedy is grant apply', () => {
    const d = decideS3('get', facts({bucketPolicy: {state: 'absent'}}), remedies, 'dicom/a.dcm')
    expect(d).toMatchObject({outcome: 'fail', code: 'implicit-deny', decidedBy: [], remedy: remedies.grantApply})
  })

  it('a key outside the granted prefix is denied', () => {
    expect(decideS3('get', facts(), remedies, 'other/a.dcm').outcome).toBe('fail')
  })

  it('an explicit Deny names the statement and says to narrow it', () => {
    const policy = grantDoc(ROLE)
    ;(policy.Statement as IamStatement[]).push({Sid: 'NoDicom', Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::data/dicom/secret/*'})
    const d = decideS3('get', facts({bucketPolicy: {state: 'ok', policy}}), remedies, 'dicom/secret/x.dcm')
    expect(d).toMatchObject({outcome: 'fail', code: 'explicit-deny', decidedBy: ['bucket policy "NoDicom" (#3)']})
    expect(d.remedy).toMatch(/Remove or narrow statement "NoDicom" \(#3\) of the bucket policy/)
  })

  it('a Deny on aws:SourceVpce is unknown (never allowed), naming the key and the fix', () => {
    const policy = grantDoc(ROLE)
    ;(policy.Statement as IamStatement[]).unshift({
      Sid: 'VpceOnly',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: ['arn:aws:s3:::data', 'arn:aws:s3:::data/*'],
      Condition: {StringNotEquals: {'aws:SourceVpce': 'vpce-1a2b3c4d'}},
    })
    const d = decideS3('get', facts({bucketPolicy: {state: 'ok', policy}}), remedies, 'dicom/a.dcm')
    expect(d).toMatchObject({outcome: 'unknown', code: 'unknown-condition'})
    expect(d.decidedBy).toContain('bucket policy "VpceOnly" (#0)')
    expect(d.cause).toMatch(/aws:SourceVpce/)
    expect(d.remedy).toMatch(/outside your network or organisation/)
  })

  it('a Deny on aws:PrincipalOrgID is unknown too', () => {
    const policy = grantDoc(ROLE)
    ;(policy.Statement as IamStatement[]).push({
      Sid: 'OrgOnly',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: 'arn:aws:s3:::data/*',
      Condition: {StringNotEquals: {'aws:PrincipalOrgID': 'o-abc123'}},
    })
    expect(decideS3('get', facts({bucketPolicy: {state: 'ok', policy}}), remedies, 'dicom/a.dcm')).toMatchObject({outcome: 'unknown', code: 'unknown-condition'})
  })

  it('a Deny on insecure transport does not hit the cluster (it uses HTTPS)', () => {
    const policy = grantDoc(ROLE)
    ;(policy.Statement as IamStatement[]).push({Sid: 'TLS', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: 'arn:aws:s3:::data/*', Condition: {Bool: {'aws:SecureTransport': 'false'}}})
    expect(decideS3('get', facts({bucketPolicy: {state: 'ok', policy}}), remedies, 'dicom/a.dcm').outcome).toBe('pass')
  })

  it('RestrictPublicBuckets with a public statement fails every cross-account operation', () => {
    const d = decideS3('list', facts({restrictPublicBuckets: {statements: ['"Public" (#3)']}}), remedies)
    expect(d).toMatchObject({outcome: 'fail', code: 'restrict-public-buckets'})
    expect(d.decidedBy[0]).toBe('setting PublicAccessBlock.RestrictPublicBuckets')
  })

  it('a malformed or unreadable bucket policy makes the operation unknown, with the reason', () => {
    expect(decideS3('list', facts({bucketPolicy: {state: 'malformed', reason: 'statement 0: missing required field "Effect"'}}), remedies)).toMatchObject({
      outcome: 'unknown',
      code: 'bucket-policy-malformed',
      cause: expect.stringContaining('missing required field "Effect"'),
    })
    expect(decideS3('list', facts({bucketPolicy: {state: 'unreadable', reason: 'Access denied'}}), remedies)).toMatchObject({outcome: 'unknown', code: 'bucket-policy-unreadable'})
  })

  it('ListBucket is decided with the prefix the cluster sends', () => {
    const req = s3Requests('list', facts())[0]
    expect(req.context['s3:prefix']).toBe('dicom')
    const whole = s3Requests('list', facts({prefix: ''}))[0]
    expect(whole.context['s3:prefix']).toBeNull()
    // The grant's prefix condition then denies a whole-bucket listing.
    expect(decideS3('list', facts({prefix: ''}), remedies).outcome).toBe('fail')
  })
})

describe('decideS3: same account (identity policies visible)', () => {
  const local = (over: Partial<S3Facts> = {}) => facts({principal: {arn: LOCAL_ROLE, accountId: OWNER}, bucketPolicy: {state: 'absent'}, ...over})

  it('an identity policy alone is enough in the same account', () => {
    const d = decideS3('get', local({identity: readAll}), remedies, 'dicom/a.dcm')
    expect(d).toMatchObject({outcome: 'pass', code: 'allowed', decidedBy: ['role inline policy read "Read" (#0)'], customerSideOnly: false})
  })

  it('neither side: implicit deny with grant apply', () => {
    expect(decideS3('get', local({identity: noPolicies}), remedies, 'dicom/a.dcm')).toMatchObject({outcome: 'fail', remedy: remedies.grantApply})
  })

  it('identity not readable and no direct bucket grant: unknown, never allowed', () => {
    const d = decideS3('get', local({identity: {visible: false, policies: [], reason: 'denied'}}), remedies, 'dicom/a.dcm')
    expect(d).toMatchObject({outcome: 'unknown', code: 'identity-not-visible'})
    expect(d.remedy).toMatch(/iam:GetRole/)
  })

  it('a permissions boundary that does not allow the action takes back an identity grant', () => {
    const boundary = {name: 'permissions boundary pb', policy: doc({Effect: 'Allow', Action: 's3:ListBucket', Resource: '*'})}
    const d = decideS3('get', local({identity: {...readAll, boundary}}), remedies, 'dicom/a.dcm')
    expect(d).toMatchObject({outcome: 'fail', code: 'implicit-deny'})
    expect(d.cause).toMatch(/permissions boundary/)
    expect(decideS3('list', local({identity: {...readAll, boundary}}), remedies).outcome).toBe('pass')
  })

  it('RestrictPublicBuckets does not affect a principal of the bucket\'s own account', () => {
    expect(decideS3('get', local({identity: readAll, restrictPublicBuckets: {statements: ['#0']}}), remedies, 'dicom/a.dcm').outcome).toBe('pass')
  })
})

function key(over: Partial<KmsKeyFacts> = {}): KmsKeyFacts {
  return {
    ref: KEY,
    arn: KEY,
    region: 'us-east-1',
    accountId: OWNER,
    manager: 'CUSTOMER',
    state: 'Enabled',
    keyPolicy: {state: 'ok', policy: doc({Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${OWNER}:root`}, Action: 'kms:*', Resource: '*'})},
    grants: {state: 'ok', grants: []},
    encryptionContext: {'aws:s3:arn': 'arn:aws:s3:::data/dicom/a.dcm'},
    ...over,
  }
}

describe('decideDecrypt', () => {
  const vendor = {principal: {arn: ROLE, accountId: VENDOR}, identity: hidden, bucketRegion: 'us-east-1'}
  const local = {principal: {arn: LOCAL_ROLE, accountId: OWNER}, identity: readAll, bucketRegion: 'us-east-1'}

  it('the default key policy does not let another account decrypt: implicit deny, grant apply --kms-key', () => {
    const d = decideDecrypt({key: key(), ...vendor}, remedies)
    expect(d).toMatchObject({outcome: 'fail', code: 'implicit-deny', remedy: `${remedies.grantApply} --kms-key ${KEY}`})
  })

  it('a grant of Decrypt to the role allows it, naming the grant', () => {
    const d = decideDecrypt({key: key({grants: {state: 'ok', grants: [{grantId: 'abcdef0123456789', name: 'ingestgate-decrypt-1', granteePrincipal: ROLE, operations: ['Decrypt']}]}}), ...vendor}, remedies)
    expect(d).toMatchObject({outcome: 'pass', code: 'allowed-resource-side', decidedBy: ['KMS grant ingestgate-decrypt-1 (abcdef012345…)']})
  })

  it('a grant for other operations, or another grantee, does not', () => {
    const grants = [
      {grantId: 'g1', granteePrincipal: ROLE, operations: ['Encrypt']},
      {grantId: 'g2', granteePrincipal: LOCAL_ROLE, operations: ['Decrypt']},
    ]
    expect(decideDecrypt({key: key({grants: {state: 'ok', grants}}), ...vendor}, remedies).outcome).toBe('fail')
  })

  it('grant constraints are matched against the S3 encryption context', () => {
    const g = (ctx: Record<string, string>) => ({grantId: 'g', granteePrincipal: ROLE, operations: ['Decrypt'], constraints: {encryptionContextSubset: ctx}})
    expect(decideDecrypt({key: key({grants: {state: 'ok', grants: [g({'aws:s3:arn': 'arn:aws:s3:::data/dicom/a.dcm'})]}}), ...vendor}, remedies).outcome).toBe('pass')
    expect(decideDecrypt({key: key({grants: {state: 'ok', grants: [g({'aws:s3:arn': 'arn:aws:s3:::other/x'})]}}), ...vendor}, remedies).outcome).toBe('fail')
    expect(decideDecrypt({key: key({encryptionContext: undefined, grants: {state: 'ok', grants: [g({'aws:s3:arn': 'arn:aws:s3:::data'})]}}), ...vendor}, remedies)).toMatchObject({outcome: 'unknown', code: 'grant-constraint'})
  })

  it('a key policy Deny wins over a grant', () => {
    const policy = doc(
      {Sid: 'Root', Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${OWNER}:root`}, Action: 'kms:*', Resource: '*'},
      {Sid: 'NoVendor', Effect: 'Deny', Principal: {AWS: ROLE}, Action: 'kms:Decrypt', Resource: '*'},
    )
    const d = decideDecrypt({key: key({keyPolicy: {state: 'ok', policy}, grants: {state: 'ok', grants: [{grantId: 'g', granteePrincipal: ROLE, operations: ['Decrypt']}]}}), ...vendor}, remedies)
    expect(d).toMatchObject({outcome: 'fail', code: 'explicit-deny', decidedBy: ['key policy "NoVendor" (#1)']})
  })

  it('a key policy statement for the vendor role allows it cross-account (vendor side assumed, and said)', () => {
    const policy = doc({Sid: 'Vendor', Effect: 'Allow', Principal: {AWS: ROLE}, Action: 'kms:Decrypt', Resource: '*', Condition: {StringEquals: {'kms:ViaService': 's3.us-east-1.amazonaws.com'}}})
    expect(decideDecrypt({key: key({keyPolicy: {state: 'ok', policy}}), ...vendor}, remedies)).toMatchObject({outcome: 'pass', decidedBy: ['key policy "Vendor" (#0)']})
  })

  it('same account: the identity policy counts only when the key policy enables IAM policies', () => {
    expect(decideDecrypt({key: key(), ...local}, remedies)).toMatchObject({outcome: 'pass', code: 'allowed'})
    const noRoot = doc({Sid: 'Admin', Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${OWNER}:role/admin`}, Action: 'kms:*', Resource: '*'})
    const d = decideDecrypt({key: key({keyPolicy: {state: 'ok', policy: noRoot}}), ...local}, remedies)
    expect(d).toMatchObject({outcome: 'fail', code: 'implicit-deny'})
    expect(d.cause).toMatch(/does not enable IAM policies/)
  })

  it('an unreadable key policy is unknown, not a crash and not allowed', () => {
    const d = decideDecrypt({key: key({keyPolicy: {state: 'unreadable', reason: 'Access denied (AccessDeniedException)'}, grants: {state: 'unreadable', reason: 'Access denied'}}), ...vendor}, remedies)
    expect(d).toMatchObject({outcome: 'unknown', code: 'key-policy-unreadable'})
    expect(d.remedy).toMatch(/kms:GetKeyPolicy/)
  })

  it('grants unreadable while the key policy does not allow: unknown', () => {
    expect(decideDecrypt({key: key({grants: {state: 'unreadable', reason: 'denied'}}), ...vendor}, remedies)).toMatchObject({outcome: 'unknown', code: 'grants-unreadable'})
  })

  it('the AWS-managed aws/s3 key cannot be shared with another account', () => {
    const d = decideDecrypt({key: key({ref: 'alias/aws/s3', manager: 'AWS'}), ...vendor}, remedies)
    expect(d).toMatchObject({outcome: 'fail', code: 'aws-managed-key'})
    expect(d.remedy).toMatch(/Re-encrypt/)
  })

  it('a disabled key, or one in another region, fails whatever the policies say', () => {
    const grants = {state: 'ok' as const, grants: [{grantId: 'g', granteePrincipal: ROLE, operations: ['Decrypt']}]}
    expect(decideDecrypt({key: key({state: 'Disabled', grants}), ...vendor}, remedies)).toMatchObject({outcome: 'fail', code: 'kms-key-state', remedy: expect.stringContaining('enable-key')})
    expect(decideDecrypt({key: key({grants}), ...vendor, bucketRegion: 'eu-west-1'}, remedies)).toMatchObject({outcome: 'fail', code: 'kms-region-mismatch'})
  })
})

describe('lintBucketPolicy', () => {
  const f = {partition: 'aws', bucket: 'data', principal: {arn: ROLE, accountId: VENDOR}}
  const reqs = [...s3Requests('list', facts()), ...s3Requests('get', facts(), 'dicom/a.dcm')]

  it('names ListBucket on BUCKET/* and GetObject on the bare bucket', () => {
    const policy = doc(
      {Sid: 'List', Effect: 'Allow', Principal: {AWS: ROLE}, Action: 's3:ListBucket', Resource: 'arn:aws:s3:::data/*'},
      {Sid: 'Get', Effect: 'Allow', Principal: {AWS: ROLE}, Action: 's3:GetObject', Resource: 'arn:aws:s3:::data'},
    )
    const out = lintBucketPolicy(policy, f, reqs)
    expect(out.map((x) => x.code)).toEqual(['listbucket-on-objects', 'getobject-on-bucket'])
    expect(out[0].message).toMatch(/"List" \(#0\).*matches nothing/)
    expect(out[1].message).toMatch(/"Get" \(#1\).*bare bucket ARN/)
  })

  it('says nothing about a correct grant, or statements for someone else', () => {
    expect(lintBucketPolicy(grantDoc(ROLE), f, reqs)).toEqual([])
    const other = doc({Sid: 'X', Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${OWNER}:role/analytics`}, Action: 's3:ListBucket', Resource: 'arn:aws:s3:::data/*'})
    expect(lintBucketPolicy(other, f, reqs)).toEqual([])
  })

  it('names Deny statements on network or organisation conditions that reach these requests', () => {
    const policy = doc(
      {Sid: 'Vpce', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: 'arn:aws:s3:::data/*', Condition: {StringNotEquals: {'aws:SourceVpce': 'vpce-1'}}},
      {Sid: 'Elsewhere', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: 'arn:aws:s3:::data/private/*', Condition: {NotIpAddress: {'aws:SourceIp': '10.0.0.0/8'}}},
      {Sid: 'Acct', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: 'arn:aws:s3:::data/*', Condition: {StringNotEquals: {'aws:PrincipalAccount': OWNER}}},
    )
    const out = lintBucketPolicy(policy, f, reqs)
    expect(out.map((x) => x.code)).toEqual(['network-deny', 'network-deny'])
    expect(out[0].message).toMatch(/"Vpce" \(#0\).*aws:SourceVpce vpce-1.*will most likely deny/)
    expect(out[1].message).toMatch(/"Acct" \(#2\).*denies the ingest role/)
  })
})
