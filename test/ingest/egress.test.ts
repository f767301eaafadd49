/**
 * The egress estimate's arithmetic and the price table it reads (pure), the --egress-price-per-gb
 * parser, and the --max-bytes verdict on a listing.
 */
import {describe, expect, it} from 'vitest'

import {estimateEgress, estimateText, loadPriceTable, parsePricePerGb, tablePrice} from '../../src/ingest/egress.js'
import {sizeLimitStep} from '../../src/ingest/preflight.js'
import type {SourceLocation} from '../../src/providers/types.js'

const GiB = 2 ** 30
const at = (location: string): SourceLocation => ({known: true, location, locationType: 'region', via: 'test'})
const unknown: SourceLocation = {known: false, reason: 'HeadBucket was refused'}

describe('the price table', () => {
  const table = loadPriceTable()
  it('has a date, a currency and, per cloud, sources, a billed unit and a positive default', () => {
    expect(table.as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    expect(table.currency).toBe('USD')
    for (const id of ['s3', 'gs', 'az'] as const) {
      const c = table.clouds[id]
      expect(c.sources.length, id).toBeGreaterThan(0)
      for (const s of c.sources) expect(s).toMatch(/^https:\/\//)
      expect(c.unit_bytes).toBe(GiB)
      expect(c.default).toBeGreaterThan(0)
      const prices = [...Object.values(c.locations), ...c.groups.map((g) => g.price)]
      for (const p of prices) expect(p).toBeGreaterThan(0)
      // A location is priced once: never in two groups, never both exact and grouped.
      const grouped = c.groups.flatMap((g) => g.locations)
      expect(new Set(grouped).size).toBe(grouped.length)
      for (const l of Object.keys(c.locations)) expect(grouped).not.toContain(l)
    }
  })

  it('looks a location up exactly (any case), then by group, then says it used the default', () => {
    const {s3, az, gs} = table.clouds
    expect(tablePrice(s3, at('ap-southeast-1'))).toEqual({price: 0.12, basis: 'the price for ap-southeast-1'})
    expect(tablePrice(s3, at('US-EAST-1')).price).toBe(0.09)
    expect(tablePrice(s3, at('xx-nowhere-9'))).toEqual({price: s3.default, basis: expect.stringContaining('xx-nowhere-9 is not in the table')})
    expect(tablePrice(az, at('brazilsouth'))).toEqual({price: 0.181, basis: 'the price for regions in South America'})
    expect(tablePrice(az, at('westeurope')).price).toBe(0.087)
    expect(tablePrice(az, at('japaneast')).price).toBe(0.12)
    expect(tablePrice(gs, {known: true, location: 'EU', locationType: 'multi-region', via: 'test'})).toEqual({price: 0.12, basis: expect.stringContaining('the same for every location')})
    expect(tablePrice(s3, unknown)).toEqual({price: s3.default, basis: expect.stringContaining('the location is unknown')})
  })
})

describe('estimateEgress', () => {
  it('bytes / 2^30 x the price, rounded to the cent', () => {
    const e = estimateEgress({provider: 's3', location: at('us-east-1'), bytes: 500 * GiB, truncated: false})
    expect(e).toMatchObject({cloud: 'AWS', quantity: 500, unit: 'GB', unitBytes: GiB, pricePerUnit: 0.09, priceFrom: 'table', currency: 'USD', cost: 45, atLeast: false})
    expect(e.table).toMatchObject({asOf: loadPriceTable().as_of, sources: expect.arrayContaining([expect.stringContaining('aws.amazon.com/s3/pricing')])})
    expect(estimateEgress({provider: 'az', location: at('brazilsouth'), bytes: 100 * GiB, truncated: false}).cost).toBe(18.1)
    expect(estimateEgress({provider: 'gs', location: at('US-CENTRAL1'), bytes: 1.5 * GiB, truncated: false}).cost).toBe(0.18)
    // 1 TB (decimal) is 931.32 GiB: the clouds bill the binary unit.
    expect(estimateEgress({provider: 's3', location: at('us-east-1'), bytes: 1e12, truncated: false}).cost).toBe(83.82)
  })

  it('--egress-price-per-gb replaces the table (0 included); the assumptions are stated; a truncated listing makes it "at least"', () => {
    const free = estimateEgress({provider: 's3', location: at('eu-west-1'), bytes: 10 * GiB, truncated: false, pricePerGb: 0})
    expect(free).toMatchObject({cost: 0, pricePerUnit: 0, priceFrom: '--egress-price-per-gb', priceBasis: 'given with --egress-price-per-gb'})
    expect(estimateEgress({provider: 'gs', location: unknown, bytes: 3 * GiB, truncated: false, pricePerGb: 0.05}).cost).toBe(0.15)
    const partial = estimateEgress({provider: 'az', location: unknown, bytes: 2 * GiB, truncated: true})
    expect(partial.atLeast).toBe(true)
    expect(partial.assumptions.join('\n')).toMatch(/outside Azure, over the internet/)
    expect(partial.assumptions.join('\n')).toMatch(/first price tier/)
    expect(partial.assumptions.join('\n')).toMatch(/Free allowances are ignored/)
    expect(partial.assumptions.join('\n')).toMatch(/same region as the data reads it free/)
    expect(partial.assumptions.at(-1)).toMatch(/at least/)
    const text = estimateText(partial)
    expect(text.detail).toMatch(/^at least \$0\.17 estimated to move at least 2\.15 GB \(billed as 2\.00 GB of 2\^30 bytes\) out of Azure, location unknown \(HeadBucket was refused\) to the internet, at \$0\.087\/GB/)
    expect(text.detail).toContain(`price table of ${loadPriceTable().as_of}`)
    expect(text.rows.at(-1)).toMatch(/^source: https:\/\/azure\.microsoft\.com/)
  })

  it('a tiny cost says "less than $0.01", not $0.00; nothing to read costs $0.00', () => {
    expect(estimateText(estimateEgress({provider: 's3', location: at('us-east-1'), bytes: 1024, truncated: false})).detail).toMatch(/^less than \$0\.01 /)
    expect(estimateText(estimateEgress({provider: 's3', location: at('us-east-1'), bytes: 0, truncated: false})).detail).toMatch(/^\$0\.00 /)
  })
})

describe('parsePricePerGb', () => {
  it.each([
    ['0.09', 0.09],
    ['0', 0],
    ['$0.12', 0.12],
    ['.5', 0.5],
    [' 1e-2 ', 0.01],
  ])('%j is %d', (text, n) => expect(parsePricePerGb(text)).toBe(n))
  it.each(['-1', 'abc', '', 'NaN', '1e999', '0.09/GB', '1,5'])('%j is refused (exit 2)', (text) => {
    expect(() => parsePricePerGb(text)).toThrow(expect.objectContaining({code: 'BAD_PRICE', exitCode: 2, suggestions: [expect.stringContaining('--egress-price-per-gb 0.09')]}))
  })
})

describe('sizeLimitStep', () => {
  it('within, exceeded (also as a lower bound), unverified (truncated below the limit, or no listing)', () => {
    expect(sizeLimitStep(1000, {bytes: 1000, objects: 3, truncated: false})).toMatchObject({verdict: 'within', step: {status: 'pass', detail: expect.stringContaining('within --max-bytes 1 kB (1,000 bytes)')}})
    expect(sizeLimitStep(1000, {bytes: 1001, objects: 3, truncated: false})).toMatchObject({verdict: 'exceeded', step: {status: 'fail', detail: expect.stringMatching(/^1 kB \(1,001 bytes\) match, more than --max-bytes/)}})
    expect(sizeLimitStep(1000, {bytes: 5000, objects: 3, truncated: true})).toMatchObject({verdict: 'exceeded', step: {status: 'fail', detail: expect.stringMatching(/^at least 5 kB/)}})
    expect(sizeLimitStep(1000, {bytes: 10, objects: 200_000, truncated: true})).toMatchObject({verdict: 'unverified', step: {status: 'fail', detail: expect.stringContaining('stopped after 200,000 objects')}})
    expect(sizeLimitStep(1000, undefined)).toMatchObject({verdict: 'unverified', step: {status: 'fail', detail: expect.stringContaining('could not be listed')}})
  })
})
