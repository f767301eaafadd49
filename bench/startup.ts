/**
 * Start-up time of the CLI (run on demand: npx tsx bench/startup.ts [runs]). Reports the median of
 * N runs of `ingestgate --help` and `ingestgate grant render`, against a baseline measured in the
 * same run: a bare `node -e ''` (the floor) and a node process that only imports @oclif/core.
 */
import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(fileURLToPath(import.meta.url), '..', '..')
const runs = Number(process.argv[2] ?? 10)
const env = {...process.env, NODE_ENV: 'production', NO_COLOR: '1'}

function median(args: string[]): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint()
    const r = spawnSync(process.execPath, args, {cwd: root, env, stdio: 'ignore'})
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`)
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

const cases: Array<[string, string[]]> = [
  ['node -e "" (baseline)', ['-e', '']],
  ['import @oclif/core (baseline)', ['--input-type=module', '-e', "await import('@oclif/core')"]],
  ['ingestgate --help', ['bin/run.js', '--help']],
  ['ingestgate grant render', ['bin/run.js', 'grant', 'render', 's3://acme-imaging/dicom', '--principal', 'arn:aws:iam::111122223333:role/ingest']],
  ['ingestgate grant render --format terraform', ['bin/run.js', 'grant', 'render', 's3://acme-imaging', '--principal', 'arn:aws:iam::111122223333:role/ingest', '--format', 'terraform']],
]
const base = median(cases[0][1])
console.log(`median of ${runs} runs each`)
console.log(`${'case'.padEnd(44)} ${'ms'.padStart(8)} ${'x node'.padStart(8)}`)
for (const [name, args] of cases) {
  const ms = name === cases[0][0] ? base : median(args)
  console.log(`${name.padEnd(44)} ${ms.toFixed(1).padStart(8)} ${(ms / base).toFixed(2).padStart(8)}`)
}
