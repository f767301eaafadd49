/**
 * The flags several commands share, and the request they add up to. Cloud flags come from the
 * provider registry (each cloud declares its own, under its own --help heading); a command takes
 * the groups it needs and never names a cloud.
 */
import {Args, Flags} from '@oclif/core'
import type {FlagInput} from '@oclif/core/interfaces'

import {ConfigError, UsageError} from '../errors.js'
import {providerFlagSets} from '../providers/index.js'
import type {GrantRequest, OptionInput, Provider, ProviderFlagSet, StatusRequest} from '../providers/types.js'
import {loadSite, type SiteFile} from '../site.js'
import {parseSource, type ProviderId, type Source} from '../source.js'

export const sourceArg = Args.string({
  name: 'SOURCE',
  required: true,
  description: 'The bucket and prefix: s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX] or az://ACCOUNT/CONTAINER[/PREFIX].',
})

export const principalFlags = {
  principal: Flags.string({description: 'The ingest principal (AWS: IAM role ARN; GCP: service-account member; Azure: service-principal object id). Default: from --site.'}),
  site: Flags.string({description: 'Site file (JSON) from support with the ingest principal per cloud and the cluster URL.'}),
}

export type FlagGroup = Exclude<keyof ProviderFlagSet, 'heading'>

/** Which clouds declare each flag name (for the group asked), to refuse a flag of another cloud. */
function owners(groups: readonly FlagGroup[]): Map<string, ProviderId[]> {
  const byName = new Map<string, ProviderId[]>()
  for (const [id, set] of providerFlagSets()) {
    for (const g of groups) for (const name of Object.keys(set[g] ?? {})) if (!byName.get(name)?.includes(id)) byName.set(name, [...(byName.get(name) ?? []), id])
  }
  return byName
}

/**
 * The union of the registered clouds' flags of these groups, each under its cloud's heading. A
 * name several clouds declare (the storage `--endpoint-url`) becomes one flag under STORAGE.
 */
export function cloudFlags(...groups: FlagGroup[]): FlagInput {
  const out: FlagInput = {}
  const sets = new Map(providerFlagSets())
  for (const [name, ids] of owners(groups)) {
    const defs = ids.map((id) => {
      const set = sets.get(id)!
      return groups.map((g) => set[g]?.[name]).find(Boolean)!
    })
    const heading = ids.length > 1 ? 'STORAGE' : sets.get(ids[0])!.heading
    const description = ids.length > 1 ? `Per cloud: ${ids.map((id, i) => `${sets.get(id)!.heading}: ${defs[i].description}`).join(' ')}` : defs[0].description
    out[name] = {...defs[0], helpGroup: heading, description}
  }
  return out
}

/**
 * Refuse a cloud flag the source's cloud does not take, naming the cloud it belongs to (a
 * --profile on a gs:// source would otherwise be silently ignored).
 * @throws UsageError FLAG_FOR_OTHER_CLOUD (exit 2)
 */
export function refuseForeignFlags(source: Source, flags: Record<string, unknown>, groups: readonly FlagGroup[]): void {
  const sets = new Map(providerFlagSets())
  for (const [name, ids] of owners(groups)) {
    const value = flags[name]
    if (value === undefined || (Array.isArray(value) && value.length === 0) || ids.includes(source.provider)) continue
    const clouds = ids.map((id) => `${sets.get(id)!.heading} (${id}://)`).join(' and ')
    throw new UsageError('FLAG_FOR_OTHER_CLOUD', `--${name} is a flag of ${clouds}; the source ${source.url} is on another cloud.`, {
      suggestions: [`Drop --${name}, or see --help for the flags of ${source.provider}:// sources.`],
    })
  }
}

export interface GrantFlagValues extends Record<string, unknown> {
  principal?: string
  site?: string
}

export interface ResolvedRequest {
  req: GrantRequest
  provider: Provider
  site?: SiteFile
}

interface RequestHow {
  purpose: OptionInput['purpose']
  groups: readonly FlagGroup[]
  env: NodeJS.ProcessEnv
}

/**
 * The provider, its options and the principal (flag, site file, or what the options imply, validated)
 * for a source; the principal is undefined when nothing names one.
 */
async function resolveRequest(sourceText: string, flags: GrantFlagValues, how: RequestHow) {
  const {purpose, groups, env} = how
  const source = parseSource(sourceText)
  refuseForeignFlags(source, flags, groups)
  const {getProvider} = await import('../providers/index.js')
  const provider = await getProvider(source.provider)
  const site: SiteFile | undefined = flags.site ? await loadSite(flags.site) : undefined
  const options = provider.readOptions({flags, site, env, purpose})
  const principal = (flags.principal ?? (site ? provider.principalFromSite(site) : undefined) ?? provider.principalFromOptions?.(options))?.trim() || undefined
  if (principal) provider.validatePrincipal(principal)
  return {provider, site, source, options, principal}
}

/**
 * Build the request from the source argument and flags: the provider, its own options, the
 * principal (flag, site file, or what the options imply), validated before any network call.
 * @throws ConfigError MISSING_PRINCIPAL when nothing names the principal.
 */
export async function grantRequest(sourceText: string, flags: GrantFlagValues, how: RequestHow): Promise<ResolvedRequest> {
  const {provider, site, source, options, principal} = await resolveRequest(sourceText, flags, how)
  if (!principal) {
    throw new ConfigError('MISSING_PRINCIPAL', `No ingest principal given for ${source.url}.`, {
      suggestions: [`Pass --principal (${provider.principalNoun}) or --site FILE with the principal for this cloud.`],
    })
  }
  return {provider, site, req: {source, principal, options}}
}

/** The request of `grant status`: as grantRequest, but the principal may be left out. */
export async function statusRequest(sourceText: string, flags: GrantFlagValues, how: RequestHow): Promise<{provider: Provider; req: StatusRequest}> {
  const {provider, source, options, principal} = await resolveRequest(sourceText, flags, how)
  return {provider, req: {source, options, principal}}
}
