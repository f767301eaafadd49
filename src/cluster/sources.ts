/** How the reference cluster reads sources: through each source provider's reader, acting as the ingest principal. */
import {createContext} from '../context.js'
import type {Provider} from '../providers/types.js'
import {parseSource} from '../source.js'
import type {SourceReader} from '../providers/types.js'
import {StageFailure} from './worker.js'

/**
 * The cluster's source readers: per provider, options read from the cloud flags on first use (one
 * credential session per cloud for every ingest), and a reader per source acting as the principal.
 * The principal's identity is resolved before the first read, so bad credentials fail `configure`.
 */
export function providerReaders(cloudFlags: Record<string, unknown>, env: NodeJS.ProcessEnv): (srcFs: string) => Promise<SourceReader> {
  const ctx = createContext({env, quiet: true})
  const sessions = new Map<string, Promise<{provider: Provider; options: unknown}>>()
  const session = (id: Provider['id']) => {
    let s = sessions.get(id)
    if (!s) {
      s = (async () => {
        const {getProvider} = await import('../providers/index.js')
        const provider = await getProvider(id)
        return {provider, options: provider.readOptions({flags: cloudFlags, env, purpose: 'cluster'})}
      })()
      // A failure (a flag this cloud refuses) is not cached: the next ingest says it again.
      s.catch(() => sessions.delete(id))
      sessions.set(id, s)
    }
    return s
  }
  return async (srcFs) => {
    const source = parseSource(srcFs)
    let s
    try {
      s = await session(source.provider)
    } catch (error) {
      // A cloud flag of `cluster serve` that this cloud refuses.
      throw new StageFailure('GE06', 'configure', (error as Error).message)
    }
    const reader = await s.provider.openReader(ctx, source, s.options, 'principal')
    await reader.identity()
    return reader
  }
}
