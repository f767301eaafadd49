/**
 * The base of the `ingest` commands and their shared flags (the vendor CLI's names). Under --json the
 * commands that emit events (the start commands, follow) print JSON Lines: the events, then the
 * envelope as the last line; the others (list, status, report, abort, review) print one document.
 */
import {Args, Flags} from '@oclif/core'

import {BaseCommand} from './base-command.js'
import {redact} from '../output/redact.js'
import {loadSite} from '../site.js'
import {clusterSourceUrl, parseSource} from '../source.js'
import {cloudFlags, refuseForeignFlags} from './flags.js'
import {buildCreateBody, pick, type FlagValues, type StrategyName} from '../ingest/body.js'
import {loadConfigFile, resolveCluster} from '../ingest/config.js'
import {IngestSession, startIngest, type StartSummary} from '../ingest/service.js'
import {parsePricePerGb} from '../ingest/egress.js'
import {parseSize} from '../core/size.js'
import {UsageError} from '../errors.js'

export const ingestUrlArg = Args.string({
  name: 'INGEST_URL',
  required: false,
  description: 'The ingest: <cluster_url>/ingests/<ingest_id> (default: the last ingest started from this account).',
})

export const apiKeyFlag = {
  'api-key': Flags.string({
    description: 'API key for the cluster (default: INGESTGATE_API_KEY, then the key `fw login` stored in ~/.config/flywheel/user.json).',
    helpGroup: 'CLUSTER',
  }),
}

/** The clouds' flags the preflight uses to list the source and check its access. */
export const preflightCloudFlags = cloudFlags('cloud', 'live')

export const saveFlags = {
  'save-audit-logs': Flags.string({description: 'Save the audit log to this file or directory when the ingest ends.', helpValue: 'PATH', helpGroup: 'REPORTER'}),
  'save-deid-logs': Flags.string({description: 'Save the de-identification log to this file or directory.', helpValue: 'PATH', helpGroup: 'REPORTER'}),
  'save-subjects': Flags.string({description: 'Save the subjects CSV to this file or directory.', helpValue: 'PATH', helpGroup: 'REPORTER'}),
}

export const clusterFlag = {
  cluster: Flags.string({
    description: 'Ingest cluster URL: the site URL followed by /ingest (a URL with no path gets /ingest added). Default: the site file, then ~/.config/flywheel/cli.yml.',
    helpGroup: 'CLUSTER',
  }),
}

/** Flags every start command (dicom, folder, template, project) has: the vendor's plus ours. */
export const startFlags = {
  ...clusterFlag,
  ...apiKeyFlag,
  follow: Flags.boolean({char: 'f', description: 'Follow the progress of the ingest until it ends.', helpGroup: 'CLUSTER'}),
  yes: Flags.boolean({char: 'y', description: 'Assume yes to every prompt: the review is approved (the cluster approves it itself even when not followed).'}),
  'config-file': Flags.string({char: 'C', description: 'Config file (YAML or JSON) with defaults for these flags (default: ~/.config/flywheel/cli.yml).', helpValue: 'PATH'}),
  site: Flags.string({description: 'Site file (JSON) from support: the cluster URL and the ingest principal.', helpGroup: 'CLUSTER'}),
  'no-preflight': Flags.boolean({description: 'Start without the preflight gate (source, cluster and key, access check).', helpGroup: 'PREFLIGHT'}),
  principal: Flags.string({description: 'Preflight: the ingest principal to check the source for (AWS role ARN, GCP member, Azure object id). Default: from --site.', helpGroup: 'PREFLIGHT'}),
  live: Flags.boolean({description: 'Preflight: run the live layer of the access check too, acting as the ingest principal.', helpGroup: 'PREFLIGHT'}),
  symlinks: Flags.boolean({description: 'Follow symbolic links that resolve to directories.'}),
  'include-dirs': Flags.string({description: 'Patterns of directories to include (repeatable).', multiple: true, helpValue: 'PATTERN'}),
  'exclude-dirs': Flags.string({description: 'Patterns of directories to exclude (repeatable).', multiple: true, helpValue: 'PATTERN'}),
  include: Flags.string({description: 'Patterns of file names to include (repeatable; replaces the default list).', multiple: true, helpValue: 'PATTERN'}),
  exclude: Flags.string({description: 'Patterns of file names to exclude (repeatable).', multiple: true, helpValue: 'PATTERN'}),
  'compression-level': Flags.integer({description: 'Compression level for packfiles: -1 default, 0 store, higher compresses more.'}),
  'ignore-unknown-tags': Flags.boolean({description: 'Ignore unknown DICOM tags when parsing DICOM files.'}),
  encodings: Flags.string({description: 'Character encoding aliases, e.g. win_1251=cp1251 (repeatable).', multiple: true}),
  'de-identify': Flags.boolean({description: 'De-identify DICOM files.'}),
  'deid-profile': Flags.string({description: 'Use the de-identification profile with this name (default: minimal).', helpValue: 'NAME'}),
  'skip-existing': Flags.boolean({description: 'Skip import of existing files.'}),
  'no-audit-log': Flags.boolean({description: 'Do not upload the audit log to the target projects.'}),
  'load-subjects': Flags.string({description: 'Load subjects from this CSV file.', helpValue: 'PATH'}),
  'detect-duplicates': Flags.boolean({description: 'Identify duplicates within the source and against the site; duplicates are skipped and noted in the audit log.'}),
  'copy-duplicates': Flags.boolean({description: 'Upload duplicates found with --detect-duplicates to a sidecar project instead of skipping them.'}),
  'detect-duplicates-project': Flags.string({description: 'Project paths to use for detecting duplicates (repeatable).', multiple: true}),
  'detect-duplicates-override': Flags.string({description: 'Error codes (DD01-DD11) to only warn about (repeatable; implies --detect-duplicates).', multiple: true}),
  'require-project': Flags.boolean({description: 'Proceed only if the resolved group and project exist.'}),
  'enable-project-files': Flags.boolean({description: 'Enable file uploads to the project container.'}),
  'zip-single-dicom': Flags.boolean({description: 'Create a zip for a single DICOM.'}),
  ...saveFlags,
  ...preflightCloudFlags,
}

/** The preflight's size limit and egress price: for the start commands that read a bucket (not project). */
export const sizeFlags = {
  'max-bytes': Flags.string({
    description:
      'Preflight: refuse to start (exit 5) when the files that match the include/exclude patterns add up to more than SIZE, or when their size cannot be counted to the end (a listing past 200,000 objects, or no listing). SIZE is bytes with an optional unit: 500GB, 750MB (powers of 1000), 1.5TiB (powers of 1024), 2e9. Needs the preflight: not with --no-preflight.',
    helpValue: 'SIZE',
    helpGroup: 'PREFLIGHT',
  }),
  'egress-price-per-gb': Flags.string({
    description:
      "Preflight: the price of moving one GB out of the source's cloud, for the egress estimate, instead of the package's price table (in the table's currency, USD, per GB as the cloud bills it: 2^30 bytes). 0 when the cluster reads for free (same region).",
    helpValue: 'PRICE',
    helpGroup: 'PREFLIGHT',
  }),
}

export const forceScanFlag = {
  'force-scan': Flags.boolean({description: 'Try to parse all files as DICOM regardless of the DICM prefix.'}),
}
export const strictUidFlag = {
  'strict-uid': Flags.boolean({description: 'Group DICOMs in sessions and acquisitions by StudyInstanceUID and SeriesInstanceUID.'}),
}
export const levelFlags = {
  group: Flags.string({char: 'g', description: 'The id of the group, if not in the folder structure.', helpValue: 'ID'}),
  project: Flags.string({char: 'p', description: 'The label of the project, if not in the folder structure.', helpValue: 'LABEL'}),
  'no-subjects': Flags.boolean({description: 'No subject level (create a subject for every session).', exclusive: ['no-sessions']}),
  'no-sessions': Flags.boolean({description: 'No session level (create a session for every subject).', exclusive: ['no-subjects']}),
  'group-override': Flags.string({description: 'Force using this group id.', helpValue: 'ID'}),
  'project-override': Flags.string({description: 'Force using this project label.', helpValue: 'LABEL'}),
}

export abstract class IngestCommand<T> extends BaseCommand<T> {
  protected session!: IngestSession

  override async init(): Promise<void> {
    await super.init()
    this.session = new IngestSession(this.ctx, this.jsonEnabled(), this.config.bin, this.config.version)
  }

  /**
   * Commands that emit events while they run (start with --follow, follow) print JSON Lines: each
   * event, then the envelope, one line each. The others print one document, pretty like every command.
   */
  protected streamsEvents = false

  override logJson(json: unknown): void {
    if (this.streamsEvents) process.stdout.write(redact(JSON.stringify(json)) + '\n')
    else super.logJson(json)
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.session?.dispose()
    return super.finally(error)
  }

  /** The shared body of `ingest dicom|folder|template|project`. */
  protected async startFromFlags(
    strategy: StrategyName,
    src: string,
    flags: FlagValues,
    positional: {group?: string; project?: string; template?: unknown} = {},
    extra: {configExtras?: Record<string, unknown>; secrets?: string[]} = {},
  ): Promise<StartSummary> {
    const env = this.ctx.env
    // Every local check of the arguments comes before the first request: the source's form, the
    // flags of its cloud, the principal.
    const source = strategy === 'project' ? undefined : parseSource(src)
    if (source) refuseForeignFlags(source, flags, ['cloud', 'live'])
    const limits = preflightLimits(flags)
    const configPath = flags['config-file'] as string | undefined
    const config = await loadConfigFile(configPath, env)
    const body = buildCreateBody(strategy, source ? clusterSourceUrl(src, source) : src, flags, config, positional)
    Object.assign(body.config, extra.configExtras ?? {})
    const sitePath = flags.site as string | undefined
    const site = sitePath ? await loadSite(sitePath) : undefined
    const cluster = await resolveCluster({cluster: pick(flags, config, 'cluster') as string | undefined, site: sitePath, config, configPath}, env)
    let principal = (flags.principal as string | undefined)?.trim()
    if (source && !flags['no-preflight']) {
      const {getProvider} = await import('../providers/index.js')
      const provider = await getProvider(source.provider)
      principal ??= site ? provider.principalFromSite(site) : undefined
      if (principal) provider.validatePrincipal(principal)
      // The cloud flags' values too (an endpoint without a scheme), before the cluster is asked anything.
      provider.readOptions({flags, site, env, purpose: 'preflight', principal})
    }
    const {summary, exit} = await startIngest(this.session, {
      cluster: cluster.url,
      apiKey: flags['api-key'] as string | undefined,
      body,
      loadSubjects: pick(flags, config, 'load-subjects') as string | undefined,
      follow: Boolean(pick(flags, config, 'follow')),
      followFlags: {
        yes: body.config.assume_yes,
        'save-audit-logs': pick(flags, config, 'save-audit-logs') as string | undefined,
        'save-deid-logs': pick(flags, config, 'save-deid-logs') as string | undefined,
        'save-subjects': pick(flags, config, 'save-subjects') as string | undefined,
      },
      preflight: flags['no-preflight'] ? undefined : {cloudFlags: flags, site, live: Boolean(flags.live), principal, ...limits},
      secrets: extra.secrets,
    })
    this.setExitStatus(exit)
    return summary
  }
}

/**
 * --max-bytes and --egress-price-per-gb, read before any request. Both act on the preflight's
 * listing of the bucket, so they are refused with --no-preflight (the limit would be silently
 * skipped). A project ingest has no bucket and does not take them (sizeFlags).
 * @throws UsageError (exit 2)
 */
export function preflightLimits(flags: FlagValues): {maxBytes?: number; egressPricePerGb?: number} {
  const maxText = flags['max-bytes'] as string | undefined
  const priceText = flags['egress-price-per-gb'] as string | undefined
  const given = [maxText === undefined ? undefined : '--max-bytes', priceText === undefined ? undefined : '--egress-price-per-gb'].filter(Boolean).join(' and ')
  if (given && flags['no-preflight']) {
    throw new UsageError('NEEDS_PREFLIGHT', `${given} need${given.includes(' and ') ? '' : 's'} the preflight's listing of the source, and --no-preflight skips it: the ${maxText === undefined ? 'estimate' : 'size limit'} would not be applied.`, {
      suggestions: [maxText === undefined ? 'Drop --egress-price-per-gb, or drop --no-preflight.' : 'Drop --no-preflight to keep the size limit (the preflight lists the source and refuses a larger ingest), or drop --max-bytes to start without it.'],
    })
  }
  return {
    maxBytes: maxText === undefined ? undefined : parseSize(maxText, '--max-bytes'),
    egressPricePerGb: priceText === undefined ? undefined : parsePricePerGb(priceText),
  }
}
