/** The --max-bytes parser: the suffix picks the base (GB = 10^9, GiB = 2^30); anything else is refused with the forms. */
import {describe, expect, it} from 'vitest'

import {formatSize, parseSize} from '../../src/core/size.js'

describe('parseSize', () => {
  it.each([
    ['500GB', 500e9],
    ['750MB', 750e6],
    ['1.5TiB', 1.5 * 2 ** 40],
    ['2e9', 2e9],
    ['1024', 1024],
    ['0', 0],
    ['12 kB', 12_000],
    ['12KB', 12_000],
    ['3KiB', 3072],
    ['1.1GB', 1_100_000_000],
    ['512giB', 512 * 2 ** 30],
    ['2PB', 2e15],
    ['  7B ', 7],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text, '--max-bytes')).toBe(bytes)
  })

  it.each([
    ['', /not a size/],
    ['GB', /not a size/],
    ['-5GB', /not a size/],
    ['5 gigabytes', /not a size/],
    ['5XB', /not a size/],
    ['1.5', /whole number of bytes/],
    ['1.5B', /whole number of bytes/],
    ['1e30', /counted exactly/],
    ['Infinity', /not a size/],
    ['0x10', /not a size/],
  ])('%j is refused (exit 2)', (text, message) => {
    expect(() => parseSize(text, '--max-bytes')).toThrow(expect.objectContaining({code: 'BAD_SIZE', exitCode: 2, message: expect.stringMatching(message), suggestions: [expect.stringContaining('1.5TiB')]}))
  })

  it('a lower-case b is bits: refused, with the byte unit it probably meant', () => {
    expect(() => parseSize('500Gb', '--max-bytes')).toThrow(/bits; did you mean GB\?/)
    expect(() => parseSize('2Mib', '--max-bytes')).toThrow(/did you mean MiB\?/)
    expect(() => parseSize('512gib', '--max-bytes')).toThrow(/did you mean GiB\?/)
  })
})

describe('formatSize', () => {
  it('decimal by default, binary on request', () => {
    expect(formatSize(999)).toBe('999 B')
    expect(formatSize(1_500_000_000)).toBe('1.5 GB')
    expect(formatSize(500e9)).toBe('500 GB')
    expect(formatSize(1.5 * 2 ** 40, true)).toBe('1.5 TiB')
    expect(formatSize(12_345_678)).toBe('12.3 MB')
  })
})
