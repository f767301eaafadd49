/**
 * The provider seam, checked on the tree: a cloud is a folder. Outside a provider's own folder
 * (src/providers/<cloud>/, src/clients/<cloud>*.ts) and the few places that list every cloud by
 * design (the registry, the context's client factories, the source URL parser, the site file,
 * the demo), no code imports a cloud SDK or a cloud's module, defines a cloud's flag, or branches
 * on a source scheme.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'

import {describe, expect, it} from 'vitest'

import {ROOT} from '../helpers/cli.js'

const CLOUDS = ['aws', 'gcp', 'azure']
const SRC = join(ROOT, 'src')

function files(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
}

/** Files allowed to name clouds: their own folders, and the places that list every cloud. */
function cloudOwned(rel: string): boolean {
  return (
    CLOUDS.some((c) => rel.startsWith(`providers/${c}/`) || rel.startsWith(`clients/${c}`)) ||
    rel.startsWith('demo/') ||
    ['providers/index.ts', 'context.ts', 'source.ts', 'site.ts'].includes(rel)
  )
}

const neutral = files(SRC)
  .map((p) => ({rel: relative(SRC, p), text: readFileSync(p, 'utf8')}))
  .filter((f) => !cloudOwned(f.rel))

/** Code only: comments and string contents of help texts are not branches. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
}

describe('the provider seam', () => {
  it('finds the neutral files it checks (the scan is not empty)', () => {
    expect(neutral.map((f) => f.rel)).toEqual(expect.arrayContaining(['cli/flags.ts', 'ingest/preflight.ts', 'cluster/server.ts', 'commands/check.ts']))
  })

  it('no neutral file imports a cloud SDK or a cloud\'s own module', () => {
    const offenders = neutral.filter((f) =>
      /from '(@aws-sdk|@google-cloud|@azure|google-auth-library)[^']*'|import\('(@aws-sdk|@google-cloud|@azure)/.test(f.text) ||
      new RegExp(`from '[./]*(clients/(${CLOUDS.join('|')})|providers/(${CLOUDS.join('|')})/|\\./(${CLOUDS.join('|')})/)`).test(f.text),
    )
    expect(offenders.map((f) => f.rel)).toEqual([])
  })

  it('no neutral file defines a cloud\'s flag', () => {
    const cloudFlagNames = ['profile', 'region', 'assume-role', 'external-id', 'principal-profile', 'kms-key', 'endpoint-url', 'impersonate-service-account', 'subscription', 'resource-group', 'tenant', 'arm-endpoint']
    const re = new RegExp(`(^|[\\s{,])['"]?(${cloudFlagNames.join('|')})['"]?\\s*:\\s*Flags\\.`, 'm')
    expect(neutral.filter((f) => re.test(code(f.text))).map((f) => f.rel)).toEqual([])
  })

  it('no neutral file branches on a source scheme', () => {
    const re = /(provider|scheme)\s*[!=]==?\s*'(s3|gs|az)'|'(s3|gs|az)'\s*[!=]==?|\/\^(s3|gs|az):/i
    expect(neutral.filter((f) => re.test(code(f.text))).map((f) => f.rel)).toEqual([])
  })

  it('no provider imports another provider\'s folder or client', () => {
    const offenders = files(SRC)
      .map((p) => ({rel: relative(SRC, p), text: readFileSync(p, 'utf8')}))
      .flatMap((f) => {
        const own = CLOUDS.find((c) => f.rel.startsWith(`providers/${c}/`) || f.rel.startsWith(`clients/${c}`))
        if (!own) return []
        const others = CLOUDS.filter((c) => c !== own).join('|')
        return new RegExp(`from '[./]*(providers/|clients/|\\.\\./)(${others})[/.'-]`).test(f.text) ? [f.rel] : []
      })
    expect(offenders).toEqual([])
  })
})
