/**
 * Which KMS keys encrypt the data: the bucket's default encryption (new writes only) plus a spread
 * sample of objects' SSEKMSKeyId, plus keys named by the user. The AWS-managed aws/s3 key cannot be
 * shared with another account at all, so finding it stops the grant with an explanation.
 */
import type {AwsClients} from '../../clients/aws/index.js'
import {mapBounded, spreadSample} from '../../core/sample.js'
import {ConfigError, RemoteError} from '../../errors.js'

export interface KeyDiscovery {
  keyArns: string[]
  notes: string[]
  /** What could not be known and needs the user (objects whose encryption cannot be read). */
  warnings: string[]
}

function awsManaged(keyRef: string, where: string): ConfigError {
  return new ConfigError('AWS_MANAGED_KEY', `${where} is encrypted with the AWS-managed key aws/s3 (${keyRef}), which cannot be shared with another account.`, {
    suggestions: [
      'Re-encrypt the data under a customer-managed KMS key (e.g. aws s3 cp --recursive with --sse aws:kms --sse-kms-key-id KEY_ARN), set it as the bucket default, then re-run.',
    ],
  })
}

/** Find the KMS keys in use under the source and resolve each to its key ARN. */
export async function discoverKmsKeys(
  aws: AwsClients,
  bucket: string,
  prefix: string,
  opts: {region?: string; owner: string; sample: number; explicit: string[]; purpose: 'apply' | 'revoke'},
): Promise<KeyDiscovery> {
  const notes: string[] = []
  const warnings: string[] = []
  // apply stops at the aws/s3 key (nothing can be granted on it); revoke only passes it by, since
  // no grant of ours can exist there and the statements must still come out.
  const managed = (keyRef: string, where: string) => {
    if (opts.purpose === 'apply') throw awsManaged(keyRef, where)
    notes.push(`${where} uses the AWS-managed key aws/s3; it cannot carry grants, so there is none to retire.`)
  }
  const refs = new Map<string, string>() // key reference -> where it was seen
  for (const k of opts.explicit) refs.set(k, '--kms-key')
  for (const k of await aws.s3.getDefaultKmsKeys(bucket, opts.owner)) if (!refs.has(k)) refs.set(k, `the default encryption of ${bucket}`)

  const listed = await aws.s3.listKeys(bucket, prefix, 1000)
  const sample = spreadSample(listed, opts.sample)
  // A HeadObject refused (a VPC-endpoint or TLS-only bucket policy can refuse the admin's laptop)
  // hides that object's key, but the grant can still be made: say which objects, and how to add keys.
  const unreadable: string[] = []
  const heads = (
    await mapBounded(sample, 8, async (o) => {
      try {
        return await aws.s3.headObject(bucket, o.key, opts.owner)
      } catch (error) {
        if (error instanceof RemoteError && error.kind === 'access-denied') {
          unreadable.push(o.key)
          return undefined
        }
        throw error
      }
    })
  ).filter((h) => h !== undefined)
  if (unreadable.length > 0) {
    warnings.push(
      `The encryption of ${unreadable.length} of ${sample.length} sampled object(s) cannot be read with your credentials (access denied on HeadObject, e.g. s3://${bucket}/${unreadable[0]}): ` +
        'KMS keys only they use were not found, so no Decrypt grant was planned for them. Name such keys with --kms-key ARN (repeatable) and re-run apply.',
    )
  }
  for (const h of heads) {
    if (!h.serverSideEncryption?.startsWith('aws:kms')) continue
    if (!h.kmsKeyId) {
      warnings.push(`s3://${bucket}/${h.key} reports SSE-KMS without a key id; grant its key with --kms-key if it is not found otherwise.`)
      continue
    }
    if (!refs.has(h.kmsKeyId)) refs.set(h.kmsKeyId, `s3://${bucket}/${h.key}`)
  }

  const region = opts.region ?? aws.options.region ?? 'us-east-1'
  const arns = new Set<string>()
  for (const [ref, where] of refs) {
    if (/(^|:)alias\/aws\/s3$/.test(ref)) {
      managed(ref, where)
      continue
    }
    const keyRegion = /^arn:[^:]+:kms:([^:]+):/.exec(ref)?.[1] ?? region
    try {
      const info = await aws.kms(keyRegion).describeKey(ref)
      if (info.keyManager === 'AWS') managed(info.arn, where)
      else arns.add(info.arn)
    } catch (error) {
      // A key in another account may not be describable by this admin; a named ARN is still usable.
      if (error instanceof RemoteError && error.code === 'ACCESS_DENIED' && ref.startsWith('arn:')) {
        warnings.push(`Cannot describe KMS key ${ref} (access denied); granting it as given.`)
        arns.add(ref)
      } else throw error
    }
  }
  if (listed.length === 0) notes.push(`No objects under s3://${bucket}/${prefix}: only the default encryption key (if any) was found.`)
  return {keyArns: [...arns], notes, warnings}
}
