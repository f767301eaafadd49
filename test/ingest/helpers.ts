/** Shared set-up of the ingest client tests: an isolated home, a distinctive key, fast follow timings. */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {baseEnv} from '../helpers/cli.js'

/** Distinctive, so that any leak of it into output or files is found by a plain search. */
export const KEY = 'site.example.io:Zq7xKEYLEAKCANARY93hd'

export function isolatedHome(): string {
  return mkdtempSync(join(tmpdir(), 'ig-ingest-home-'))
}

/** An environment with its own FLYWHEEL_USER_HOME, UTC time and fast follow timings. */
export function ingestEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv({
    HOME: home,
    FLYWHEEL_USER_HOME: home,
    INGESTGATE_STATE_DIR: join(home, 'state'),
    INGESTGATE_API_KEY: KEY,
    TZ: 'UTC',
    INGESTGATE_POLL_INTERVAL_MS: '15',
    INGESTGATE_PROGRESS_INTERVAL_MS: '10000',
    ...extra,
  })
}

/**
 * The JSON documents of a --json run: the events then the envelope last (JSON Lines, for the
 * commands that stream events), or the one pretty-printed envelope of the others.
 */
export function jsonLines(stdout: string): any[] {
  try {
    return [JSON.parse(stdout)]
  } catch {}
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
}
