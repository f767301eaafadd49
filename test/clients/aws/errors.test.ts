/**
 * The probe classifier: every AWS answer a live probe can get, mapped to the cause check reports.
 * The errors are shaped as the SDK v3 throws them (name, $metadata.httpStatusCode, message).
 */
import {describe, expect, it} from 'vitest'

import {classifyAwsError, classifyProbeError} from '../../../src/clients/aws/errors.js'

const sdkError = (name: string, status: number, message = name) => Object.assign(new Error(message), {name, $metadata: {httpStatusCode: status}})

describe('classifyProbeError', () => {
  it.each([
    [sdkError('AccessDenied', 403, 'Access Denied'), 'access-denied'],
    [sdkError('Unknown', 403, 'UnknownError'), 'access-denied'], // HEAD requests carry no error body
    [sdkError('AccessDenied', 403, 'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.'), 'kms-access-denied'],
    [sdkError('AccessDenied', 403, 'User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:...'), 'kms-access-denied'],
    [sdkError('KMS.DisabledException', 400), 'kms-disabled'],
    [sdkError('KMS.KMSInvalidStateException', 400), 'kms-invalid-state'],
    [sdkError('KMS.NotFoundException', 400), 'kms-not-found'],
    [sdkError('NoSuchKey', 404), 'no-such-key'],
    [sdkError('NoSuchBucket', 404), 'no-such-bucket'],
    [sdkError('PermanentRedirect', 301), 'region-mismatch'],
    [sdkError('AuthorizationHeaderMalformed', 400), 'region-mismatch'],
    [sdkError('ExpiredToken', 400), 'expired-token'],
    [sdkError('InvalidAccessKeyId', 403), 'invalid-credentials'],
    [sdkError('InvalidRange', 416), 'invalid-range'],
    [sdkError('SlowDown', 503), 'throttled'],
    [Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'}), 'network'],
    [sdkError('InternalError', 500), 'other'],
  ])('%s -> %s', (error, cause) => {
    expect(classifyProbeError(error).cause).toBe(cause)
  })

  it('sees through the AppError a port throws (it keeps the SDK error as its cause)', () => {
    const raw = sdkError('AccessDenied', 403, 'not authorized to perform: kms:Decrypt')
    const app = classifyAwsError(raw, {doing: 'reading s3://b/k'}, {})
    expect(app.code).toBe('ACCESS_DENIED')
    expect(app.data).toEqual({awsCode: 'AccessDenied', httpStatus: 403})
    expect(classifyProbeError(app)).toEqual({cause: 'kms-access-denied', awsCode: 'AccessDenied', httpStatus: 403, message: 'not authorized to perform: kms:Decrypt'})
  })

  it('a bare 403 reports no code rather than "Unknown"', () => {
    expect(classifyProbeError(sdkError('Unknown', 403))).toMatchObject({awsCode: '', httpStatus: 403})
  })
})

describe('classifyAwsError', () => {
  it('tells a missing IAM entity apart', () => {
    expect(classifyAwsError(sdkError('NoSuchEntity', 404), {doing: 'reading IAM role x'}, {}).code).toBe('NO_SUCH_ENTITY')
  })

  it('says which credentials were rejected: the profile, the chain, or the ones given directly', () => {
    const expired = sdkError('ExpiredToken', 400)
    expect(classifyAwsError(expired, {doing: 'x', profile: 'admin'}, {}).message).toMatch(/profile "admin"/)
    expect(classifyAwsError(expired, {doing: 'x'}, {}).message).toMatch(/environment variables/)
    const given = classifyAwsError(expired, {doing: 'x', explicitCredentials: true}, {AWS_PROFILE: 'admin'})
    expect(given).toMatchObject({code: 'EXPIRED_CREDENTIALS', message: /credentials given to this command/})
    expect(given.message).not.toMatch(/profile "admin"/)
  })
})
