import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {loadSite} from '../src/site.js'

const dir = mkdtempSync(join(tmpdir(), 'ig-site-'))
const file = (name: string, content: string) => {
  const p = join(dir, name)
  writeFileSync(p, content)
  return p
}

describe('loadSite', () => {
  it('reads a valid site file', async () => {
    const site = {
      name: 'Acme',
      cluster: 'https://acme.flywheel.io/ingest',
      aws: {principal: 'arn:aws:iam::111122223333:role/ingest'},
      gcp: {principal: 'serviceAccount:ingest@vendor.iam.gserviceaccount.com'},
      azure: {principal: '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0'},
    }
    expect(await loadSite(file('ok.json', JSON.stringify(site)))).toEqual(site)
  })

  it.each([
    ['unknown top-level field', {clusterr: 'https://x'}, /clusterr: unknown field/],
    ['unknown nested field', {aws: {principal: 'arn:aws:iam::111122223333:role/x', role: 'y'}}, /aws\.role: unknown field/],
    ['missing principal', {aws: {}}, /aws\.principal: required field is missing/],
    ['bad role ARN', {aws: {principal: 'ingest-role'}}, /aws\.principal: "ingest-role" is not valid \(The ingest role ARN\.\)/],
    ['bare email for GCP', {gcp: {principal: 'ingest@vendor.iam.gserviceaccount.com'}}, /gcp\.principal: "ingest@vendor\.iam\.gserviceaccount\.com" is not valid/],
    ['bad GUID', {azure: {principal: 'not-a-guid'}}, /azure\.principal: "not-a-guid" is not valid/],
    ['non-http cluster', {cluster: 'ftp://x'}, /cluster: "ftp:\/\/x" is not valid/],
    ['wrong type', {aws: 'arn'}, /aws: must be object/],
  ])('names the field: %s', async (_name, content, message) => {
    await expect(loadSite(file('bad.json', JSON.stringify(content)))).rejects.toMatchObject({code: 'BAD_SITE_FILE', exitCode: 3, message})
  })

  it('reports invalid JSON and a missing file without a stack trace', async () => {
    await expect(loadSite(file('syntax.json', '{"aws": '))).rejects.toMatchObject({code: 'BAD_SITE_FILE', message: /not valid JSON/})
    // Where the syntax error is, as an editor counts: line and column.
    await expect(loadSite(file('syntax2.json', '{\n  "cluster": "https://x",\n  "aws": {"principal" "arn"}\n}'))).rejects.toMatchObject({message: /not valid JSON at line 3, column 22/})
    await expect(loadSite(join(dir, 'nope.json'))).rejects.toMatchObject({code: 'BAD_SITE_FILE', message: /does not exist/})
  })

  it('lists every problem, not only the first', async () => {
    const err = await loadSite(file('many.json', JSON.stringify({aws: {principal: 'x'}, azure: {principal: 'y'}}))).catch((e) => e)
    expect(err.message).toMatch(/aws\.principal/)
    expect(err.message).toMatch(/azure\.principal/)
  })
})
