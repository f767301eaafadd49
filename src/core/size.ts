/**
 * Byte sizes as a user types them (`500GB`, `1.5TiB`, `2e9`, `750MB`). The suffix decides the
 * base, as the SI and IEC standards define them: `GB` is 10^9 bytes, `GiB` is 2^30. A bare number
 * is bytes. No parser in node_modules does that split (the `bytes` package reads `GB` as 2^30), so
 * this one is small and strict: anything it cannot read exactly is refused, never guessed.
 */
import {UsageError} from '../errors.js'

const DECIMAL: Record<string, number> = {B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, PB: 1e15}
const BINARY: Record<string, number> = {KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40, PIB: 2 ** 50}

const SIZE = /^([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)$/

/** Bytes per unit for a suffix, or undefined. Prefixes are case-insensitive; `b` (bits) is not bytes. */
function unitBytes(suffix: string): number | undefined {
  if (suffix === '') return 1
  // A lower-case final b is bits (Mb, Gb): refusing it is safer than reading a limit 8x too large.
  if (!suffix.endsWith('B')) return undefined
  const upper = suffix.toUpperCase()
  return DECIMAL[upper] ?? BINARY[upper]
}

/**
 * Parse a size into whole bytes.
 * @param flag the flag the value came from, for the message (e.g. `--max-bytes`)
 * @throws UsageError BAD_SIZE (exit 2) with the accepted forms
 */
export function parseSize(text: string, flag = 'size'): number {
  const value = text.trim()
  const m = SIZE.exec(value)
  const suggestions = [`Give a number of bytes with an optional unit: 750MB, 500GB, 2TB (powers of 1000) or 1.5TiB, 512GiB (powers of 1024); 2e9 is 2,000,000,000 bytes.`]
  const bytesPerUnit = m ? unitBytes(m[2]) : undefined
  if (!m || bytesPerUnit === undefined) {
    const bits = m && /^[kmgtp]i?b$/i.test(m[2]) && m[2].endsWith('b')
    throw new UsageError('BAD_SIZE', `${flag} ${JSON.stringify(text)} is not a size${bits ? ` (a lower-case b means bits; did you mean ${m[2].slice(0, -1).toUpperCase().replace('I', 'i')}B?)` : ''}.`, {suggestions})
  }
  const product = Number(m[1]) * bytesPerUnit
  const bytes = Math.round(product)
  // 1.5B is not a number of bytes; 1.1GB is (floating point makes it 1100000000.0000002).
  if (!Number.isSafeInteger(bytes) || Math.abs(product - bytes) > Math.max(1e-6, product * 1e-12)) {
    throw new UsageError('BAD_SIZE', `${flag} ${JSON.stringify(text)} is not a whole number of bytes${Number.isSafeInteger(bytes) ? '' : ' that can be counted exactly'}.`, {suggestions})
  }
  return bytes
}

/** A size for messages in the unit family the user chose: decimal (`500 GB`) unless binary was asked. */
export function formatSize(bytes: number, binary = false): string {
  const units = binary ? ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] : ['B', 'kB', 'MB', 'GB', 'TB', 'PB']
  const base = binary ? 1024 : 1000
  let v = bytes
  let i = 0
  while (v >= base && i < units.length - 1) {
    v /= base
    i++
  }
  const digits = v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)
  // Trailing zeros of the fraction only: 1.50 -> 1.5, 2.00 -> 2, 500 stays 500.
  return i === 0 ? `${bytes} B` : `${digits.includes('.') ? digits.replace(/\.?0+$/, '') : digits} ${units[i]}`
}
