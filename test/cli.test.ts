import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {BIN, ROOT, baseEnv, runCli} from './helpers/cli.js'

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
    [['grant', 'render', 'az://acmeimaging/scans', '--principal', 'arn:aws:iam::111122223333:role/ingest'], 3, 'BAD_PRINCIPAL', /an AWS ARN; az:\/\/ needs the object id/],
    [['grant', 'render', 's3://acme-imaging', '--principal', ROLE, '--site', '/nonexistent/site.json'], 3, 'BAD_SITE_FILE', /does not exist/],
    [['grant', 'render', 's3://acme-imaging', '--principal', ROLE, '--format', 'yaml'], 2, 'BAD_FORMAT', /yaml.*json, terraform, cloudformation, cli/s],
    [['grant', 'render', 's3://acme-imaging', '--bogus'], 2, 'USAGE', /bogus/],
    [['grant', 'render', 'gs://acme-imaging', '--principal', 'serviceAccount:a@b.iam.gserviceaccount.com', '--profile', 'admin'], 2, 'FLAG_FOR_OTHER_CLOUD', /--profile is a flag of AWS \(s3:\/\/\)/],
    [['check', 's3://acme-imaging', '--principal', ROLE, '--subscription', '3f2b1c4d-1111-2222-3333-444455556666'], 2, 'FLAG_FOR_OTHER_CLOUD', /--subscription is a flag of AZURE \(az:\/\/\)/],
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

/** `script` (util-linux) runs a command on a pseudo-terminal: how a test gets a TTY without a native module. */
const HAS_SCRIPT = spawnSync('script', ['--version'], {stdio: 'ignore'}).status === 0

describe('unknown commands and completion (plugins)', () => {
  it('an unknown command gets "did you mean" and exit 2, without a terminal; --json gets the envelope on stdout', async () => {
    const r = await runCli(['ingest', 'folow', 'https://site.example.io/ingest/ingests/x'])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe('Error: `ingestgate ingest folow` is not an ingestgate command.\n  → Did you mean `ingestgate ingest follow`?\n  → Run `ingestgate help ingest` for the list of commands.\n')
    const j = await runCli(['ingest', 'folow', '--json'])
    expect(j.code).toBe(2)
    expect(j.json).toEqual({status: 2, error: {code: 'UNKNOWN_COMMAND', message: '`ingestgate ingest folow` is not an ingestgate command.', suggestions: ['Did you mean `ingestgate ingest follow`?', 'Run `ingestgate help ingest` for the list of commands.']}})
    // nothing close: no guess, only where the list is
    const far = await runCli(['frobnicate'])
    expect(far.code).toBe(2)
    expect(far.stderr).not.toMatch(/Did you mean/)
    expect(far.stderr).toContain('Run `ingestgate help` for the list of commands.')
  })

  it.skipIf(!HAS_SCRIPT)('on a terminal, @oclif/plugin-not-found asks "Did you mean"; declining is the same usage error (exit 2)', async () => {
    const child = spawn('script', ['-qec', `${process.execPath} ${BIN} ingest folow`, '/dev/null'], {cwd: ROOT, env: baseEnv(), stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (/Did you mean/.test(out) && !child.stdin.writableEnded) child.stdin.end('n\r')
    })
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)))
    const text = out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    expect(text).toMatch(/Did you mean ingest follow\?/)
    expect(text).toContain('Error: `ingestgate ingest folow` is not an ingestgate command.')
    expect(code).toBe(2)
  }, 30_000)

  it('bash completion (@oclif/plugin-autocomplete) completes commands and flags, new ones included', () => {
    const cache = mkdtempSync(join(tmpdir(), 'ig-ac-'))
    const env = baseEnv({XDG_CACHE_HOME: cache})
    execFileSync(process.execPath, [BIN, 'autocomplete', '--refresh-cache'], {cwd: ROOT, env, stdio: 'pipe'})
    const fn = join(cache, 'ingestgate/autocomplete/functions/bash/ingestgate.bash')
    expect(existsSync(fn)).toBe(true)
    const complete = (words: string[]) =>
      execFileSync('bash', ['-c', `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ingestgate_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', fn, ...words], {env, encoding: 'utf8'})
        .split('\n')
        .filter(Boolean)
    expect(complete(['ingestgate', 'ingest', 'fol'])).toEqual(['folder', 'follow'])
    expect(complete(['ingestgate', 'ingest', 'review', '--appr'])).toEqual(['--approve'])
    expect(complete(['ingestgate', 'ingest', 'follow', '--retry'])).toEqual(['--retry-for'])
  })

  it('--help loads neither plugin nor the not-found hook (start-up stays cheap)', async () => {
    const {urls} = await tracedImports(['--help'])
    expect(urls.length).toBeGreaterThan(10)
    expect(urls.filter((u) => /plugin-not-found|plugin-autocomplete|\/hooks\//.test(u))).toEqual([])
  })
})

describe('the build', () => {
  it('its oclif step prints no "oclif update available" warning (and asks no registry)', () => {
    // The env the build script gives `oclif manifest`, e.g. `NODE_ENV=production OCLIF_SKIP_NEW_VERSION_CHECK=true oclif manifest`.
    const build: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.build
    const step = build.split('&&').find((part) => /\boclif manifest\b/.test(part))!
    const buildEnv = Object.fromEntries([...step.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]))
    // oclif's update check reads its cache: one that knows of a newer oclif makes it warn. Fresh, so it
    // spawns no refresh from the registry either way.
    const cache = mkdtempSync(join(tmpdir(), 'ig-oclif-cache-'))
    mkdirSync(join(cache, 'oclif'))
    writeFileSync(join(cache, 'oclif', 'version'), JSON.stringify({latest: '99.0.0', current: '4.24.0'}))
    const oclif = (env: NodeJS.ProcessEnv) =>
      spawnSync(join(ROOT, 'node_modules/.bin/oclif'), ['--version'], {cwd: ROOT, env: {...baseEnv({XDG_CACHE_HOME: cache}), ...env}, encoding: 'utf8'})
    // the check is live in this oclif (else this test could not fail)
    expect(oclif({}).stderr).toMatch(/update available from 4\.24\.0 to 99\.0\.0/)
    const quiet = oclif(buildEnv)
    expect(quiet.status).toBe(0)
    expect(quiet.stderr).not.toMatch(/update available/)
  })
})

describe('the package', () => {
  it('ships the docs its messages point to and the example site file; the packed files run on their own', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ig-pack-'))
    // npm's own account of what goes into the tarball, and the tarball itself
    const [pack] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], {cwd: ROOT, encoding: 'utf8', env: baseEnv(), stdio: ['ignore', 'pipe', 'ignore']}))
    const files = new Set<string>(pack.files.map((f: {path: string}) => f.path))
    const sources = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
    const named = new Set(sources('src').flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/docs\/[\w.-]+\.md/g)].map((m) => m[0])))
    const readme = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/\]\((docs\/[^)#]+)/g)].map((m) => m[1])
    expect(named.size).toBeGreaterThan(0)
    for (const doc of [...named, ...readme, 'docs/site.example.json']) expect(files.has(doc), doc).toBe(true)

    // unpacked as `npm install` would, with this checkout's dependencies: the site example loads
    execFileSync('tar', ['-xzf', join(out, pack.filename), '-C', out])
    const installed = join(out, 'package')
    symlinkSync(join(ROOT, 'node_modules'), join(installed, 'node_modules'))
    const r = spawnSync(process.execPath, [join(installed, 'bin/run.js'), 'grant', 'render', 's3://acme-imaging/dicom', '--site', join(installed, 'docs/site.example.json'), '--json'], {
      cwd: out,
      env: baseEnv(),
      encoding: 'utf8',
    })
    expect(r.status, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).result.documents.bucketPolicyStatements[0].Principal).toEqual({AWS: 'arn:aws:iam::111122223333:role/ingest'})
  }, 60_000)

  it('docs/site.example.json is valid against schemas/site.schema.json and uses every section', async () => {
    const {default: Ajv} = await import('ajv')
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas/site.schema.json'), 'utf8'))
    const example = JSON.parse(readFileSync(join(ROOT, 'docs/site.example.json'), 'utf8'))
    const validate = new Ajv.default({allErrors: true, strict: true}).compile(schema)
    expect(validate(example), JSON.stringify(validate.errors)).toBe(true)
    expect(Object.keys(example).sort()).toEqual(['$schema', ...Object.keys(schema.properties).filter((k) => k !== '$schema')].sort())
  })
})
