/**
 * Yes/no questions read from stdin, as the vendor CLI asks them (`Confirm upload? (yes/no): `,
 * asking again on anything but yes/y/no/n). Works with a terminal and with piped input; when stdin
 * ends without an answer the question has no answer (`undefined`), which the caller must not take
 * as a "no" that aborts anything.
 */
import {createInterface, type Interface} from 'node:readline'

import type {Writer} from '../output/ui.js'

const RESPONSES: Record<string, boolean> = {yes: true, y: true, no: false, n: false}

export interface StdinPrompter {
  ask(question: string): Promise<boolean | undefined>
  close(): void
}

export function createStdinPrompter(writer: Writer, input: NodeJS.ReadableStream = process.stdin, signal?: AbortSignal): StdinPrompter {
  let rl: Interface | undefined
  const lines: string[] = []
  let ended = false
  let waiter: (() => void) | undefined
  const start = () => {
    if (rl) return
    // stdin that has already ended (read to its end before, or </dev/null) emits no 'close' again:
    // waiting for it would leave nothing for the event loop to do, and node would exit 13.
    if ((input as NodeJS.ReadStream).readableEnded) {
      ended = true
      return
    }
    rl = createInterface({input, terminal: false})
    rl.on('line', (line) => {
      lines.push(line)
      waiter?.()
    })
    rl.on('close', () => {
      ended = true
      waiter?.()
    })
  }
  const nextLine = async (): Promise<string | undefined> => {
    start()
    while (lines.length === 0 && !ended) {
      if (signal?.aborted) return undefined
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve()
        waiter = () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
        signal?.addEventListener('abort', onAbort, {once: true})
      })
      waiter = undefined
    }
    return lines.shift()
  }
  return {
    async ask(question) {
      for (;;) {
        writer.write(`${question} (yes/no): `)
        const line = await nextLine()
        if (line === undefined) {
          writer.write('\n')
          return undefined
        }
        const answer = RESPONSES[line.trim().toLowerCase()]
        if (answer !== undefined) return answer
        writer.write('Please respond with "yes" or "no".\n')
      }
    },
    close() {
      rl?.close()
      // Let the process exit even though stdin was read from.
      ;(input as NodeJS.ReadStream).unref?.()
      ;(input as NodeJS.ReadStream).pause?.()
    },
  }
}
