/**
 * The only place that styles text. Colour only on a TTY and never with NO_COLOR; everything that is
 * not data goes to stderr, and all of it passes through redaction.
 */
import {Chalk, type ChalkInstance} from 'chalk'

import {redact} from './redact.js'

export interface Writer {
  write(text: string): unknown
  isTTY?: boolean
}

export interface Ui {
  /** Data: stdout. */
  out(text: string): void
  /** Progress, plans, diagnostics: stderr. */
  info(text: string): void
  warn(text: string): void
  color: ChalkInstance
}

export function colorLevel(stream: Writer, env: NodeJS.ProcessEnv): 0 | 1 {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return 1
  return stream.isTTY ? 1 : 0
}

export function createUi(stdout: Writer, stderr: Writer, env: NodeJS.ProcessEnv, quiet = false): Ui {
  const color = new Chalk({level: colorLevel(stderr, env)})
  return {
    color,
    out: (text) => stdout.write(redact(text) + '\n'),
    info: (text) => {
      if (!quiet) stderr.write(redact(text) + '\n')
    },
    warn: (text) => stderr.write(redact(color.yellow('Warning: ') + text) + '\n'),
  }
}

/** Render a diff for a person: + green, - red, context dim. */
export function formatDiff(lines: Array<{op: ' ' | '+' | '-'; text: string}>, color: ChalkInstance): string {
  return lines
    .map(({op, text}) => {
      if (op === ' ' && text.startsWith('@@ ')) return color.cyan(text)
      const line = `${op} ${text}`
      if (op === '+') return color.green(line)
      if (op === '-') return color.red(line)
      return color.dim(line)
    })
    .join('\n')
}
