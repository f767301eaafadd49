import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {ROOT, baseEnv, runCli} from './helpers/cli.js'

const ROLE = 'arn:aws:iam::111122223333:role/ingest'
const CLOUD_SDK = /node_modules\/(@aws-sdk|@smithy|@google-cloud|@azure)\//

async function tracedImports(args: string[]): Promise<{code: number; urls: string[]}> {
  const trace = join(mkdtempSync(join(tmpdir(), 'ig-trace-')), 'imports.txt')
  writeFileSync(trace, '')
  const r = await runCli(args, {env: baseEnv({IG_TRACE_IMPORTS: trace}), nodeArgs: ['--import', join(ROOT, 'test/helpers/trace-imports.mjs')]})
  return {code: r.code, urls: readFileSync(trace, 'utf8').split('\n').filter(Boolean)}
}

describe('the CLI', () => {
  it('--help lists the grant topic and loads no cloud SDK', async () => {
    const r = await runCli(['--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/grant/)
    const {urls} = await tracedImports(['--help'])
    expect(urls.length).toBeGreaterThan(10) // the tracer really traced
    expect(urls.filter((u) => CLOUD_SDK.test(u))).toEqual([])
  })

  it('grant render loads no cloud SDK and needs no credentials', async () => {
    const {code, urls} = await tracedImports(['grant', 'render', 's3://acme-imaging/dicom', '--principal', ROLE, '--profile', 'admin', '--region', 'eu-west-1', '--endpoint-url', 'http://127.0.0.1:9'])
    expect(code).toBe(0)
    expect(urls.some((u) => u.includes('/dist/commands/grant/render.js'))).toBe(true)
    expect(urls.filter((u) => CLOUD_SDK.test(u))).toEqual([])
  })

  it('grant render --json prints the envelope with the documents on stdout', async () => {
    const r = await runCli(['grant', 'render', 'S3://acme-imaging/dicom', '--principal', ROLE, '--json'])
    expect(r.code).toBe(0)
    expect(r.json?.status).toBe(0)
    expect(r.json?.warnings).toEqual([])
    const statements = r.json?.result.documents.bucketPolicyStatements
    expect(statements.map((s: any) => s.Action)).toEqual(['s3:ListBucket', 's3:GetBucketLocation', ['s3:GetObject', 's3:GetObjectAttributes']])
    // The prefix is a directory: dicom/ only, never dicom-phi-raw/.
    expect(statements[2].Resource).toBe('arn:aws:s3:::acme-imaging/dicom/*')
    expect(statements[0].Condition).toEqual({StringLike: {'s3:prefix': ['dicom/', 'dicom/*']}})
  })

  it('takes the principal from a site file', async () => {
    const site = join(mkdtempSync(join(tmpdir(), 'ig-site-')), 'site.json')
    writeFileSync(site, JSON.stringify({aws: {principal: ROLE}}))
    const r = await runCli(['grant', 'render', 's3://acme-imaging', '--site', site, '--json'])
    expect(r.code).toBe(0)
    expect(r.json?.result.documents.bucketPolicyStatements[0].Principal).toEqual({AWS: ROLE})
  })

  it.each([
    [['grant', 'render', 'bucket/key', '--principal', ROLE], 3, 'BAD_SOURCE', /Invalid source URL "bucket\/key"/],
    [['grant', 'render', 's3://acme-imaging'], 3, 'MISSING_PRINCIPAL', /No ingest principal/],
    [['grant', 'render', 's3://acme-imaging', '--principal', '*'], 3, 'BAD_PRINCIPAL', /wildcard or public principal/],
    [['grant', 'render', 's3://acme-imaging', '--principal', 'arn:aws:iam::111122223333:root'], 3, 'BAD_PRINCIPAL', /whole account/],
    [['grant', 'render', 's3://acme-imaging', '--principal', 'AROAEXAMPLEEXAMPLE123'], 3, 'BAD_PRINCIPAL', /unique id/],
    [['grant', 'render', 's3://acme-imaging', '--principal', ROLE, '--kms-key', 'alias/data'], 3, 'BAD_KMS_KEY', /alias/],
    [['grant', 'render', 'gs://acme-imaging', '--principal', 'serviceAccount:a@b.iam.gserviceaccount.com'], 3, 'PROVIDER_NOT_AVAILABLE', /gs:\/\//],
    [['grant', 'render', 's3://acme-imaging', '--principal', ROLE, '--site', '/nonexistent/site.json'], 3, 'BAD_SITE_FILE', /does not exist/],
    [['grant', 'render', 's3://acme-imaging', '--principal', ROLE, '--format', 'yaml'], 2, 'BAD_FORMAT', /yaml.*json, terraform, cloudformation, cli/s],
    [['grant', 'render', 's3://acme-imaging', '--bogus'], 2, 'USAGE', /bogus/],
    [['grant', 'render', 's3://acme-imaging', '--principal', 'serviceAccount:ingest@vendor.iam.gserviceaccount.com'], 3, 'BAD_PRINCIPAL', /GCP member; s3:\/\/ needs an IAM role ARN/],
    [['grant', 'render', 's3://acme-imaging', '--principal', '9f3a1c2e-4b5d-4e6f-8a9b-0c1d2e3f4a5b'], 3, 'BAD_PRINCIPAL', /Azure object id/],
    [['grant', 'render', 's3://acme-imaging', '--principal', 'arn:aws:iam::11112222333:role/ingest'], 3, 'BAD_PRINCIPAL', /has 11 digits, not 12/],
    [['grant', 'render', 's3://acme-imaging', '--principal', 'arn:aws:iam::111122223333:user/'], 3, 'BAD_PRINCIPAL', /name after the slash is missing/],
    [['grant', 'apply', 's3://acme-imaging', '--principal', ROLE, '--endpoint-url', '127.0.0.1:45111'], 3, 'BAD_ENDPOINT', /not an http:\/\/ or https:\/\/ URL\. Did you mean http:\/\/127\.0\.0\.1:45111/],
    [['cluster', 'serve', '--assume-role', 'notarole'], 3, 'BAD_ASSUME_ROLE', /--assume-role: "notarole" is not a well-formed IAM role/],
  ])('%j exits %i with %s, a message and a remedy, never a stack trace', async (args, exit, code, message) => {
    const plain = await runCli(args as string[])
    expect(plain.code).toBe(exit)
    expect(plain.stdout).toBe('')
    expect(plain.stderr).toMatch(message)
    expect(plain.stderr).toMatch(/→ /)
    expect(plain.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)

    const json = await runCli([...(args as string[]), '--json'])
    expect(json.code).toBe(exit)
    expect(json.json).toMatchObject({status: exit, error: {code, message}})
    expect(json.json?.error?.suggestions.length).toBeGreaterThan(0)
  })

  it('the oclif manifest is fresh: same version and the same commands and flags as the code', async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8'))
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    expect(manifest.version).toBe(pkg.version)
    const files = (dir: string): string[] =>
      readdirSync(join(ROOT, 'src/commands', dir), {withFileTypes: true}).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name.slice(0, -3)).replaceAll('/', ':')] : [],
      )
    expect(Object.keys(manifest.commands).sort()).toEqual(files('').sort())
    for (const id of Object.keys(manifest.commands)) {
      const {default: cmd} = await import(join(ROOT, 'dist/commands', ...id.split(':')) + '.js')
      expect(Object.keys(manifest.commands[id].flags).sort(), id).toEqual(Object.keys({...cmd.baseFlags, ...cmd.flags, json: true}).sort())
    }
  })

  it('the generated docs (command reference, exit codes) are fresh', () => {
    expect(() => execFileSync(process.execPath, ['scripts/gen-docs.mjs', '--check'], {cwd: ROOT, stdio: 'pipe'})).not.toThrow()
  })
})
