/**
 * The pure Azure core: naming, scopes, the prefix condition, role evaluation (table in
 * evaluate-cases.json), network rules, options and the principal check, and render.
 */
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {compileCondition} from '../../../emulators/azure-common.mjs'
import {AppError} from '../../../src/errors.js'
import {coveringAssignment, evaluateDataAccess, evaluateNetwork, type AccessInput, type RoleDefinitionInfo} from '../../../src/providers/azure/evaluate.js'
import {readAzureOptions, validateAzurePrincipal} from '../../../src/providers/azure/options.js'
import {shellQuote} from '../../../src/core/shell.js'
import {hclString} from '../../../src/core/literals.js'
import {bicepString, renderAzureGrant} from '../../../src/providers/azure/render.js'
import {accountScope, assignmentName, BLOB_DATA_READER_ROLE, BLOB_READ_ACTION, containerScope, grantSpec, parsePrefixCondition, prefixCondition, scopeChain} from '../../../src/providers/azure/spec.js'
import {parseSource} from '../../../src/source.js'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const hcl = require('hcl2-parser') as {parseToObject(input: string): [unknown, unknown]}

const SUB = '3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8'
const PRINCIPAL = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9'
const APP = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'
const parts = {subscriptionId: SUB, resourceGroup: 'rg-imaging', account: 'acmeimaging', container: 'scans'}

describe('names and scopes', () => {
  it('the assignment name is a UUIDv5 of scope|role|principal, the same whatever the case', () => {
    const scope = containerScope(parts)
    const name = assignmentName(scope, BLOB_DATA_READER_ROLE, PRINCIPAL)
    expect(name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(assignmentName(scope.toUpperCase(), BLOB_DATA_READER_ROLE.toUpperCase(), PRINCIPAL.toUpperCase())).toBe(name)
    expect(assignmentName(containerScope({...parts, container: 'other'}), BLOB_DATA_READER_ROLE, PRINCIPAL)).not.toBe(name)
    expect(assignmentName(scope, BLOB_DATA_READER_ROLE, '00000000-1111-4222-8333-444444444444')).not.toBe(name)
  })

  const hasPython = spawnSync('python3', ['--version']).status === 0
  it.skipIf(!hasPython)('python\'s uuid.uuid5 (what the cli render runs with placeholders) derives the same name (skipped without python3)', () => {
    const scope = containerScope(parts)
    const py = spawnSync('python3', ['-c', 'import sys, uuid; print(uuid.uuid5(uuid.UUID(sys.argv[1]), sys.argv[2].lower()))', 'b8cefd3e-be29-5b02-a58c-ddee43b29d6a', `${scope}|${BLOB_DATA_READER_ROLE}|${PRINCIPAL}`], {encoding: 'utf8'})
    expect(py.stdout.trim()).toBe(assignmentName(scope, BLOB_DATA_READER_ROLE, PRINCIPAL))
  })

  it('the scope chain runs from the container up to the subscription', () => {
    expect(scopeChain(parts)).toEqual([
      `/subscriptions/${SUB}/resourceGroups/rg-imaging/providers/Microsoft.Storage/storageAccounts/acmeimaging/blobServices/default/containers/scans`,
      accountScope(parts),
      `/subscriptions/${SUB}/resourceGroups/rg-imaging`,
      `/subscriptions/${SUB}`,
    ])
  })

  it('a prefix is a directory: az://a/c/dicom and az://a/c/dicom/ grant dicom/', () => {
    const a = grantSpec(parseSource('az://acmeimaging/scans/dicom'), PRINCIPAL, {subscriptionId: SUB, resourceGroup: 'rg-imaging'})
    const b = grantSpec(parseSource('az://acmeimaging/scans/dicom/'), PRINCIPAL, {subscriptionId: SUB, resourceGroup: 'rg-imaging'})
    expect(a).toEqual(b)
    expect(a.prefix).toBe('dicom/')
    expect(parsePrefixCondition(a.condition!)).toBe('dicom/')
    expect(grantSpec(parseSource('az://acmeimaging/scans'), PRINCIPAL, {subscriptionId: SUB, resourceGroup: 'rg-imaging'}).condition).toBeUndefined()
    expect(grantSpec(parseSource('az://acmeimaging/scans'), PRINCIPAL, {})).toMatchObject({placeholders: true, name: undefined, scope: expect.stringContaining('<SUBSCRIPTION_ID>')})
  })
})

describe('the prefix condition', () => {
  const cond = prefixCondition('dicom/')
  const ask = (c: string, r: {list?: string; path?: string}) =>
    compileCondition(c)({
      action: BLOB_READ_ACTION,
      subOperation: r.list !== undefined ? 'Blob.List' : undefined,
      attributes: r.list !== undefined ? {'Request:Microsoft.Storage/storageAccounts/blobServices/containers/blobs:prefix': r.list || undefined} : {'Resource:Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path': r.path},
    })

  it('means what it says to an ABAC evaluator (the doubles\' independent parser)', () => {
    expect(ask(cond, {path: 'dicom/a/1.dcm'})).toBe(true)
    expect(ask(cond, {path: 'dicom-phi/1.dcm'})).toBe(false)
    expect(ask(cond, {path: 'other/dicom/1.dcm'})).toBe(false)
    expect(ask(cond, {list: 'dicom/'})).toBe(true)
    expect(ask(cond, {list: 'dicom/sub-1/'})).toBe(true)
    expect(ask(cond, {list: 'dicom'})).toBe(false)
    expect(ask(cond, {list: ''})).toBe(false)
    // Other actions are untouched by it.
    expect(compileCondition(cond)({action: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write', attributes: {}})).toBe(true)
  })

  it('is recognised whatever its whitespace, and nothing else is', () => {
    expect(parsePrefixCondition(cond.replace(/\n\s*/g, ' '))).toBe('dicom/')
    expect(parsePrefixCondition(cond.replace(/\s+/g, '\n\t'))).toBe('dicom/')
    expect(parsePrefixCondition(cond.replace("StringStartsWith 'dicom/'", "StringStartsWith 'other/'"))).toBeUndefined()
    expect(parsePrefixCondition(cond.replace('AND NOT SubOperationMatches', 'AND SubOperationMatches'))).toBeUndefined()
    expect(parsePrefixCondition(`${cond} OR true`)).toBeUndefined()
  })

  it('a prefix with a single quote cannot be written into a condition', () => {
    expect(() => prefixCondition("it's/")).toThrow(expect.objectContaining({code: 'PREFIX_NOT_EXPRESSIBLE', exitCode: 3}))
  })
})

interface CaseFile {
  scope: string
  principal: string
  definitions: Record<string, {roleName: string; permissions: RoleDefinitionInfo['permissions']}>
  cases: Array<{
    name: string
    assignments: Array<{role: string; at: string; condition?: string; principal?: string}>
    deny?: Array<{at: string; principals: string[]; exclude?: string[]; dataActions: string[]; doNotApplyToChildScopes?: boolean}>
    list: string
    get: string
  }>
}

describe('role evaluation (evaluate-cases.json)', () => {
  const file = JSON.parse(readFileSync(join(here, 'evaluate-cases.json'), 'utf8')) as CaseFile
  const container = file.scope
  const account = container.replace(/\/blobServices\/.*$/, '')
  const at: Record<string, string> = {
    container,
    'other-container': container.replace(/containers\/c$/, 'containers/d'),
    account,
    'resource-group': '/subscriptions/s/resourceGroups/g',
    subscription: '/subscriptions/s',
    'management-group': '/providers/Microsoft.Management/managementGroups/contoso',
  }
  const definitions = new Map(Object.entries(file.definitions).map(([guid, d]) => [guid, {id: `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${guid}`, ...d}]))
  it.each(file.cases)('$name', (c) => {
    const input: AccessInput = {
      principalId: file.principal,
      scope: container,
      assignments: c.assignments.map((a, i) => ({
        id: `a${i}`,
        name: `a${i}`,
        scope: at[a.at],
        roleDefinitionId: `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${a.role}`,
        principalId: a.principal ?? file.principal,
        condition: a.condition?.startsWith('COND:') ? prefixCondition(a.condition.slice(5)) : a.condition,
      })),
      definitions,
      denyAssignments: (c.deny ?? []).map((d, i) => ({id: `d${i}`, name: `d${i}`, scope: at[d.at], principals: d.principals.map((id) => ({id})), excludePrincipals: (d.exclude ?? []).map((id) => ({id})), permissions: [{dataActions: d.dataActions}], doNotApplyToChildScopes: d.doNotApplyToChildScopes})),
    }
    const show = (d: {outcome: string; code: string}) => (d.outcome === 'pass' ? 'pass' : `${d.outcome}:${d.code}`)
    expect(show(evaluateDataAccess(input, {operation: 'list', prefix: 'dicom/'})), 'list').toBe(c.list)
    expect(show(evaluateDataAccess(input, {operation: 'get', path: 'dicom/sub-1/IM1.dcm'})), 'get').toBe(c.get)
  })

  it('an existing assignment covers the grant only without a narrowing condition', () => {
    const base = {principalId: file.principal, scope: container, definitions, denyAssignments: []}
    const reader = (condition?: string) => [{id: 'x', name: 'x', scope: account, roleDefinitionId: `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${BLOB_DATA_READER_ROLE}`, principalId: file.principal, condition}]
    expect(coveringAssignment({...base, assignments: reader()}, 'dicom/')?.role).toBe('Storage Blob Data Reader')
    expect(coveringAssignment({...base, assignments: reader(prefixCondition('dicom/'))}, 'dicom/sub/')).toBeDefined()
    expect(coveringAssignment({...base, assignments: reader(prefixCondition('dicom/sub/'))}, 'dicom/')).toBeUndefined()
    expect(coveringAssignment({...base, assignments: reader(prefixCondition('dicom/'))}, '')).toBeUndefined()
  })
})

describe('network rules', () => {
  const acct = {name: 'a', id: 'x', resourceGroup: 'g'}
  it.each([
    [{}, 'open'],
    [{networkRuleSet: {defaultAction: 'Allow'}}, 'open'],
    [{networkRuleSet: {defaultAction: 'Deny', ipRules: [], virtualNetworkRules: []}}, 'blocked'],
    [{networkRuleSet: {defaultAction: 'Deny', ipRules: [{iPAddressOrRange: '198.51.100.0/24'}]}}, 'depends'],
    [{publicNetworkAccess: 'Disabled', networkRuleSet: {defaultAction: 'Allow'}}, 'blocked'],
  ])('%j is %s', (extra, state) => {
    const v = evaluateNetwork({...acct, ...extra})
    expect(v.state).toBe(state)
    expect(v.findings.length > 0).toBe(state !== 'open')
  })
})

describe('sovereign clouds', () => {
  it('a blob URL of a sovereign cloud implies its Resource Manager, unless --arm-endpoint is given', async () => {
    const {cloudOptionsFor} = await import('../../../src/providers/azure/resolve.js')
    const opts = readAzureOptions({flags: {}, env: {}, purpose: 'grant'})
    expect(cloudOptionsFor(parseSource('https://acct1.blob.core.usgovcloudapi.net/cont1/x'), opts).armEndpoint).toBe('https://management.usgovcloudapi.net')
    expect(cloudOptionsFor(parseSource('https://acct1.blob.core.chinacloudapi.cn/cont1'), opts).armEndpoint).toBe('https://management.chinacloudapi.cn')
    expect(cloudOptionsFor(parseSource('https://acct1.blob.core.windows.net/cont1'), opts).armEndpoint).toBeUndefined()
    expect(cloudOptionsFor(parseSource('az://acct1/cont1'), opts).armEndpoint).toBeUndefined()
    const given = readAzureOptions({flags: {'arm-endpoint': 'https://arm.example.test'}, env: {}, purpose: 'grant'})
    expect(cloudOptionsFor(parseSource('https://acct1.blob.core.usgovcloudapi.net/cont1'), given).armEndpoint).toBe('https://arm.example.test')
  })
})

describe('options and the principal', () => {
  const read = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => readAzureOptions({flags, env, purpose: 'grant'})
  it('reads the flags and the site file, and AZURE_SUBSCRIPTION_ID as the default', () => {
    expect(read({}, {AZURE_SUBSCRIPTION_ID: SUB.toUpperCase()}).cloud.subscriptionId).toBe(SUB)
    const o = readAzureOptions({flags: {subscription: SUB, 'resource-group': 'rg-1', 'arm-endpoint': 'https://management.usgovcloudapi.net/', 'endpoint-url': 'https://a.blob.core.usgovcloudapi.net'}, site: {azure: {principal: PRINCIPAL, applicationId: APP, tenantId: SUB}}, env: {}, purpose: 'grant'})
    expect(o).toMatchObject({resourceGroup: 'rg-1', endpointUrl: 'https://a.blob.core.usgovcloudapi.net', applicationId: APP, cloud: {armEndpoint: 'https://management.usgovcloudapi.net', tenantId: SUB}})
  })
  it.each([
    [{subscription: 'prod'}, /--subscription "prod" is not a GUID/],
    [{tenant: 'contoso.onmicrosoft.com'}, /--tenant .* is not a GUID/],
    [{'arm-endpoint': 'management.azure.com'}, /--arm-endpoint "management\.azure\.com" is not an http:\/\/ or https:\/\/ URL\. Did you mean https:\/\/management\.azure\.com/],
    [{'arm-endpoint': 'http://127.0.0.1:8443'}, /only over HTTPS/],
    [{'endpoint-url': 'a.blob.core.windows.net'}, /--endpoint-url .* is not an http:\/\/ or https:\/\/ URL/],
    [{'endpoint-url': 'https://a.blob.core.windows.net/?sv=1&sig=abc'}, /SAS/],
    [{'resource-group': 'rg with spaces'}, /--resource-group/],
  ])('refuses %j', (flags, message) => {
    expect(() => read(flags)).toThrow(expect.objectContaining({exitCode: 3, message: expect.stringMatching(message)}))
  })
  it('an http:// --endpoint-url (shared by every cloud) is accepted here and refused when Azure would use it', async () => {
    const o = read({'endpoint-url': 'http://127.0.0.1:9000'})
    expect(o.endpointUrl).toBe('http://127.0.0.1:9000')
    const {createAzureClients} = await import('../../../src/clients/azure/index.js')
    const clients = await createAzureClients({}, {})
    await expect(clients.blob('http://127.0.0.1:9000/acct')).rejects.toMatchObject({code: 'BAD_ENDPOINT', exitCode: 3})
  })

  it.each([
    ['arn:aws:iam::123456789012:role/ingest', /an AWS ARN/],
    ['serviceAccount:ingest@vendor.iam.gserviceaccount.com', /a GCP IAM member/],
    ['ingest@vendor.example', /an e-mail address/],
    ['5e6f7a8b9c0d4e1fa2b3c4d5e6f7a8b9', /without its hyphens/],
    ['vendor-ingest', /not a GUID/],
  ])('refuses the principal %s, saying what it is', (p, message) => {
    const e = (() => {
      try {
        validateAzurePrincipal(p)
      } catch (error) {
        return error as AppError
      }
    })()
    expect(e).toMatchObject({code: 'BAD_PRINCIPAL', exitCode: 3, message: expect.stringMatching(message)})
    expect(e!.suggestions.join(' ')).toMatch(/az ad sp show --id APPLICATION_ID --query id/)
  })
})

describe('render', () => {
  const spec = (source = 'az://acmeimaging/scans/dicom', where: {subscriptionId?: string; resourceGroup?: string} = {subscriptionId: SUB, resourceGroup: 'rg-imaging'}) => grantSpec(parseSource(source), PRINCIPAL, where)
  const parseHcl = (text: string): any => {
    const [parsed, error] = hcl.parseToObject(text)
    if (!parsed) throw new Error(`not valid HCL2: ${JSON.stringify(error)}\n${text}`)
    return parsed
  }

  it('json is the ARM request body with the deterministic name and the condition', () => {
    const r = renderAzureGrant(spec(), 'json')
    const doc = JSON.parse(r.text)
    expect(doc).toEqual({
      name: spec().name,
      scope: spec().scope,
      properties: {roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${BLOB_DATA_READER_ROLE}`, principalId: PRINCIPAL, principalType: 'ServicePrincipal', description: expect.stringContaining('az://acmeimaging/scans/dicom/'), condition: prefixCondition('dicom/'), conditionVersion: '2.0'},
    })
  })

  it('terraform is valid HCL with the same values, and derives the name itself when the scope has placeholders', () => {
    const parsed = parseHcl(renderAzureGrant(spec(), 'terraform').text)
    const res = Object.values(parsed.resource.azurerm_role_assignment)[0] as any[]
    expect(res[0]).toMatchObject({name: spec().name, scope: spec().scope, principal_id: PRINCIPAL, principal_type: 'ServicePrincipal', condition_version: '2.0', skip_service_principal_aad_check: true})
    expect(res[0].condition.trim().replace(/\s+/g, ' ')).toBe(prefixCondition('dicom/').replace(/\s+/g, ' '))
    const withPlaceholders = renderAzureGrant(spec('az://acmeimaging/scans/dicom', {}), 'terraform')
    expect(withPlaceholders.text).toMatch(/FILL IN/)
    const p = parseHcl(withPlaceholders.text)
    expect(Object.keys(p.variable).sort()).toEqual(['resource_group_name', 'subscription_id'])
    expect((Object.values(p.resource.azurerm_role_assignment)[0] as any[])[0].name).toMatch(/uuidv5\("b8cefd3e-be29-5b02-a58c-ddee43b29d6a"/)
  })

  it('bicep scopes the assignment to the container and needs only the name as a parameter with placeholders', () => {
    const text = renderAzureGrant(spec(), 'bicep').text
    expect(text).toContain(`name: '${spec().name}'`)
    expect(text).toContain('scope: account::blobService::container')
    expect(text).toContain(`subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '${BLOB_DATA_READER_ROLE}')`)
    expect(text).toContain("conditionVersion: '2.0'")
    const ph = renderAzureGrant(spec('az://acmeimaging/scans', {}), 'bicep').text
    expect(ph).toMatch(/FILL IN[\s\S]*param roleAssignmentName string/)
    expect(ph).not.toMatch(/condition:/)
  })

  it('cli is a shell script that runs (sh -n) and creates exactly this assignment', () => {
    const text = renderAzureGrant(spec(), 'cli').text
    expect(text).toContain('--assignee-object-id "$principal"')
    expect(text).toContain('--assignee-principal-type ServicePrincipal')
    expect(text).toContain(`name='${spec().name}'`)
    for (const t of [text, renderAzureGrant(spec('az://acmeimaging/scans', {}), 'cli').text]) expect(spawnSync('sh', ['-n'], {input: t}).status).toBe(0)
  })

  it('shows the admin-consent step when the site file gives the application id', () => {
    const r = renderAzureGrant(spec(), 'cli', {applicationId: APP, tenantId: SUB})
    expect(r.text).toContain(`https://login.microsoftonline.com/${SUB}/adminconsent?client_id=${APP}`)
    expect(r.text).toContain(`az ad sp show --id ${APP} --query id -o tsv`)
    expect(r.notes!.join('\n')).toContain('adminconsent')
  })

  it('hostile prefixes stay literal in every format', () => {
    const s = spec('az://acmeimaging/scans/a ${b} %{c} $(d) "e" \\f')
    const tf = parseHcl(renderAzureGrant(s, 'terraform').text)
    expect((Object.values(tf.resource.azurerm_role_assignment)[0] as any[])[0].condition).toContain("StringStartsWith 'a ${b} %{c} $(d) \"e\" \\f/'")
    expect(renderAzureGrant(s, 'bicep').text).toContain('\\${b}')
    const sh = renderAzureGrant(s, 'cli').text
    expect(spawnSync('sh', ['-n'], {input: sh}).status).toBe(0)
    expect(hclString('${x}')).toBe('"$${x}"')
    expect(bicepString("it's ${x}")).toBe("'it\\'s \\${x}'")
    expect(shellQuote("a'b")).toBe("'a'\\''b'")
  })

  it('an unknown format is a usage error naming the formats', () => {
    expect(() => renderAzureGrant(spec(), 'cloudformation')).toThrow(expect.objectContaining({code: 'BAD_FORMAT', exitCode: 2, suggestions: ['Use --format json|terraform|bicep|cli.']}))
  })
})

describe('redaction of what Azure output carries', () => {
  it('keeps ARM resource ids, removes bearer tokens and JWTs', async () => {
    const {redact} = await import('../../../src/output/redact.js')
    const id = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${BLOB_DATA_READER_ROLE}`
    expect(redact(JSON.stringify({roleDefinitionId: id}))).toBe(JSON.stringify({roleDefinitionId: id}))
    expect(redact('Authorization: Bearer abc.def.ghi')).toBe('Authorization: Bearer [REDACTED]')
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJvaWQiOiJ4In0.c2lnbmF0dXJl'
    expect(redact(`token ${jwt} end`)).toBe('token [REDACTED] end')
  })
})
