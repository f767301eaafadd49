/**
 * An unknown command (`ingestgate ingest folow`). On a terminal, @oclif/plugin-not-found asks "Did
 * you mean ingest follow?" and runs it when the user says yes. Without a terminal (a script, CI) that
 * plugin only warns, and under --json it prints no envelope; here both get the same typed usage error
 * as any other bad input (exit 2, with the closest command as a suggestion), the envelope on stdout
 * under --json. Loaded only when a command is not found: no cost on the normal path.
 */
import {Errors, toConfiguredId, type Hook} from '@oclif/core'

import {ExitCode} from '../errors.js'

/** Edit distance (insert, delete, substitute, swap two neighbours) between two command ids. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({length: a.length + 1}, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** The known command closest to `id`, when it is close enough to be what was meant. */
export function closestCommand(id: string, known: string[]): string | undefined {
  let best: {id: string; distance: number} | undefined
  for (const candidate of known) {
    const distance = editDistance(id, candidate)
    if (!best || distance < best.distance) best = {id: candidate, distance}
  }
  // Past a third of the word, a "did you mean" is a guess that misleads more than it helps.
  return best && best.distance <= Math.max(2, Math.ceil(id.length / 3)) ? best.id : undefined
}

const hook: Hook<'command_not_found'> = async function (opts) {
  const json = opts.argv?.includes('--json') ?? false
  if (!json && process.stdin.isTTY && process.stdout.isTTY) {
    const {default: notFound} = await import('@oclif/plugin-not-found')
    try {
      return await notFound.call(this, opts)
    } catch (error) {
      // The user said no: the same typed error (exit 2) as without a terminal, not the plugin's 127.
      if (!(error instanceof Errors.CLIError && error.oclif?.exit === 127)) throw error
    }
  }
  const config = opts.config
  const hidden = new Set(config.commands.filter((c) => c.hidden).map((c) => c.id))
  const known = [...config.commandIDs, ...config.commands.flatMap((c) => c.aliases)].filter((c) => !hidden.has(c))
  // oclif joins every word into the id (`ingest:folow:https://…`): the command is the topic and one
  // word, or one word without a topic; the rest are its arguments.
  const words = opts.id.split(':')
  const topic = words.length > 1 && config.findTopic(words[0]) ? words[0] : undefined
  const id = words.slice(0, topic ? 2 : 1).join(':')
  const typed = toConfiguredId(id, config)
  const suggestion = closestCommand(id, known)
  const message = `\`${config.bin} ${typed}\` is not an ${config.bin} command.`
  const suggestions = [
    ...(suggestion ? [`Did you mean \`${config.bin} ${toConfiguredId(suggestion, config)}\`?`] : []),
    `Run \`${config.bin} help${topic ? ` ${topic}` : ''}\` for the list of commands.`,
  ]
  if (json) {
    process.stdout.write(JSON.stringify({status: ExitCode.USAGE, error: {code: 'UNKNOWN_COMMAND', message, suggestions}}, null, 2) + '\n')
  } else {
    process.stderr.write([`Error: ${message}`, ...suggestions.map((s) => `  → ${s}`)].join('\n') + '\n')
  }
  throw new Errors.ExitError(ExitCode.USAGE)
}

export default hook
