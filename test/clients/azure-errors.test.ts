/**
 * The Azure error classifier: each SDK failure shape becomes one typed AppError with the neutral
 * kind, the Azure code kept for the check, and an exit code. Real SDK errors of these shapes are
 * produced against the doubles in test/emulators/azure-*.test.ts; here the table of mappings.
 */
import {describe, expect, it} from 'vitest'

import {classifyAzureError} from '../../src/clients/azure/errors.js'
import {ConfigError} from '../../src/errors.js'

const rest = (statusCode: number | undefined, code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`${code}: service message`), {name: 'RestError', statusCode, code, ...extra})
const storage = (statusCode: number, errorCode: string) => Object.assign(new Error('This request is not authorized.'), {name: 'RestError', statusCode, details: {errorCode}})

describe('classifyAzureError', () => {
  it.each([
    [Object.assign(new Error('ChainedTokenCredential authentication failed.'), {name: 'CredentialUnavailableError'}), 'NO_CREDENTIALS', 3, 'credentials'],
    [Object.assign(new Error('AADSTS7000215: Invalid client secret'), {name: 'AuthenticationError'}), 'INVALID_CREDENTIALS', 3, 'credentials'],
    [rest(401, 'ExpiredAuthenticationToken'), 'INVALID_CREDENTIALS', 3, 'credentials'],
    [rest(401, 'InvalidAuthenticationTokenAudience'), 'INVALID_CREDENTIALS', 3, 'credentials'],
    [rest(403, 'AuthorizationFailed'), 'ACCESS_DENIED', 4, 'access-denied'],
    [storage(403, 'AuthorizationPermissionMismatch'), 'ACCESS_DENIED', 4, 'access-denied'],
    [storage(403, 'AuthorizationFailure'), 'NETWORK_RULES', 4, 'access-denied'],
    [rest(409, 'RoleAssignmentExists'), 'ROLE_ASSIGNMENT_EXISTS', 4, 'unknown'],
    [rest(400, 'PrincipalNotFound'), 'PRINCIPAL_NOT_FOUND', 4, 'not-found'],
    [storage(404, 'ContainerNotFound'), 'NO_SUCH_CONTAINER', 4, 'not-found'],
    [storage(404, 'BlobNotFound'), 'NO_SUCH_BLOB', 4, 'not-found'],
    [rest(404, 'ResourceNotFound'), 'NOT_FOUND', 4, 'not-found'],
    [storage(416, 'InvalidRange'), 'INVALID_RANGE', 4, 'unknown'],
    [storage(503, 'ServerBusy'), 'THROTTLED', 4, 'throttled'],
    [rest(undefined, 'REQUEST_SEND_ERROR', {cause: Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'})}), 'NETWORK', 4, 'network'],
    [rest(500, 'InternalServerError'), 'AZURE_ERROR', 4, 'unknown'],
  ])('%s -> %s', (error, code, exitCode, kind) => {
    const e = classifyAzureError(error, {doing: 'testing', endpoint: 'https://127.0.0.1:1'})
    expect(e).toMatchObject({code, exitCode, kind})
    expect(e.suggestions.length).toBeGreaterThan(0)
    expect(e.message).toContain('testing')
  })

  it('keeps the Azure code and status for the check, and passes AppErrors through', () => {
    expect(classifyAzureError(storage(403, 'AuthorizationPermissionMismatch'), {doing: 'x'}).data).toEqual({azureCode: 'AuthorizationPermissionMismatch', httpStatus: 403})
    const own = new ConfigError('X', 'y')
    expect(classifyAzureError(own, {doing: 'x'})).toBe(own)
  })
})
