/** POSIX shell words for the commands ingestgate prints (remedies, resume commands, rendered scripts). */

/** One shell word, quoted only when the shell would split or expand it (readable remedies). */
export function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : shellQuote(value)
}

/** One POSIX shell word: single-quoted, with each ' written as '\''. Nothing inside is expanded. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`
}
