/**
 * The preflight's egress estimate: what moving the ingest's bytes out of the source's cloud to
 * the internet costs, at the list price of a small table kept in the package
 * (`data/egress-prices.json`, with its date and sources) or at --egress-price-per-gb. Pure apart
 * from reading that table; the location comes from the provider (`Provider.locate`).
 */
import {readFileSync} from 'node:fs'

import {UsageError} from '../errors.js'
import type {SourceLocation} from '../providers/types.js'
import type {ProviderId} from '../source.js'
import {formatSize} from '../core/size.js'

/** One cloud's row of the price table. */
export interface CloudPrices {
  cloud: string
  meter: string
  sources: string[]
  /** The unit the price is per, as the cloud names it, and its size in bytes. */
  unit: string
  unit_bytes: number
  unit_note: string
  priced_by: string
  default: number
  /** Exact locations (compared case-insensitively). */
  locations: Record<string, number>
  /** Locations priced together (Azure prices by continent group). */
  groups: Array<{name: string; price: number; locations: string[]}>
}

export interface PriceTable {
  as_of: string
  verification: string
  currency: string
  free_tiers: string
  clouds: Record<ProviderId, CloudPrices>
}

let cached: PriceTable | undefined

/**
 * The price table shipped with the package. It sits in `data/` at the package root, which is two
 * levels above this module both in `src/ingest/` and in `dist/ingest/`, and `data` is in the
 * package's `files`.
 */
export function loadPriceTable(): PriceTable {
  cached ??= JSON.parse(readFileSync(new URL('../../data/egress-prices.json', import.meta.url), 'utf8')) as PriceTable
  return cached
}

/**
 * The table's price for a location: the location's own, its group's, or the cloud's default
 * (said as such, never silently).
 */
export function tablePrice(prices: CloudPrices, location: SourceLocation): {price: number; basis: string} {
  if (!location.known) return {price: prices.default, basis: `the table's default for ${prices.cloud}, since the location is unknown`}
  const name = location.location.toLowerCase()
  const exact = Object.entries(prices.locations).find(([k]) => k.toLowerCase() === name)
  if (exact) return {price: exact[1], basis: `the price for ${location.location}`}
  const group = prices.groups.find((g) => g.locations.some((l) => l.toLowerCase() === name))
  if (group) return {price: group.price, basis: `the price for regions in ${group.name}`}
  const basis = Object.keys(prices.locations).length || prices.groups.length ? `the table's default for ${prices.cloud} (${location.location} is not in the table)` : `${prices.cloud}'s price, the same for every location (priced by ${prices.priced_by})`
  return {price: prices.default, basis}
}

/** The estimate as the preflight reports it (human and --json). */
export interface EgressEstimate {
  cloud: string
  provider: ProviderId
  location: SourceLocation
  /** The matching objects' bytes: what the cluster reads. */
  bytes: number
  /** The listing was truncated: bytes and cost are lower bounds. */
  atLeast: boolean
  /** The billed quantity: bytes / unitBytes. */
  quantity: number
  unit: string
  unitBytes: number
  pricePerUnit: number
  priceFrom: 'table' | '--egress-price-per-gb'
  priceBasis: string
  currency: string
  /** quantity x pricePerUnit, rounded to the cent. */
  cost: number
  assumptions: string[]
  table: {asOf: string; meter: string; sources: string[]}
}

export interface EstimateInput {
  provider: ProviderId
  location: SourceLocation
  bytes: number
  truncated: boolean
  /** --egress-price-per-gb: replaces the table's price. */
  pricePerGb?: number
  table?: PriceTable
}

/** Compute the estimate. Pure given the table. */
export function estimateEgress(input: EstimateInput): EgressEstimate {
  const table = input.table ?? loadPriceTable()
  const prices = table.clouds[input.provider]
  const fromTable = tablePrice(prices, input.location)
  const pricePerUnit = input.pricePerGb ?? fromTable.price
  const quantity = input.bytes / prices.unit_bytes
  const cost = Math.round(quantity * pricePerUnit * 100) / 100
  const assumptions = [
    `The cluster reads from outside ${prices.cloud}, over the internet; a cluster in the same region as the data reads it free, and one in another ${prices.cloud} region pays the lower inter-region rate instead.`,
    `Every byte at the first price tier (${prices.meter}); larger monthly volumes are billed less per ${prices.unit}.`,
    `Free allowances are ${table.free_tiers}`,
    `${prices.unit_note} Priced by ${prices.priced_by}.`,
    'Each matching object is read once, whole; request charges (LIST, GET) and re-reads after a restart are not counted.',
  ]
  if (input.truncated) assumptions.push('The listing stopped before the end: the bytes and the cost are at least these.')
  return {
    cloud: prices.cloud,
    provider: input.provider,
    location: input.location,
    bytes: input.bytes,
    atLeast: input.truncated,
    quantity,
    unit: prices.unit,
    unitBytes: prices.unit_bytes,
    pricePerUnit,
    priceFrom: input.pricePerGb === undefined ? 'table' : '--egress-price-per-gb',
    priceBasis: input.pricePerGb === undefined ? fromTable.basis : 'given with --egress-price-per-gb',
    currency: table.currency,
    cost,
    assumptions,
    table: {asOf: table.as_of, meter: prices.meter, sources: prices.sources},
  }
}

/** A money amount for messages: `$12.34`, `less than $0.01`. */
export function formatCost(cost: number, currency: string, exact: number): string {
  const symbol = currency === 'USD' ? '$' : `${currency} `
  if (exact > 0 && cost < 0.01) return `less than ${symbol}0.01`
  return `${symbol}${cost.toFixed(2)}`
}

/** The estimate's one-line summary and its assumption rows, for the preflight's text output. */
export function estimateText(e: EgressEstimate): {detail: string; rows: string[]} {
  const atLeast = e.atLeast ? 'at least ' : ''
  const where = e.location.known ? `${e.cloud} ${e.location.location} (${e.location.locationType}, per ${e.location.via})` : `${e.cloud}, location unknown (${e.location.reason})`
  // The clouds' "GB" is 2^30 bytes: said so, next to the decimal size of the bytes themselves.
  const unitName = e.unit === 'GB' && e.unitBytes === 2 ** 30 ? 'GB of 2^30 bytes' : e.unit
  const qty = `billed as ${e.quantity < 0.01 && e.quantity > 0 ? e.quantity.toExponential(2) : e.quantity.toFixed(2)} ${unitName}`
  const detail =
    `${atLeast}${formatCost(e.cost, e.currency, e.quantity * e.pricePerUnit)} estimated to move ${atLeast}${formatSize(e.bytes)} (${qty}) out of ${where} to the internet, ` +
    `at ${e.currency === 'USD' ? '$' : e.currency + ' '}${e.pricePerUnit}/${e.unit}: ${e.priceBasis}` +
    (e.priceFrom === 'table' ? ` (price table of ${e.table.asOf}; --egress-price-per-gb overrides it)` : '')
  return {detail, rows: [...e.assumptions.map((a) => `assumes: ${a}`), `source: ${e.table.sources.join('; ')}`]}
}

/**
 * Read --egress-price-per-gb: a non-negative decimal number.
 * @throws UsageError BAD_PRICE (exit 2)
 */
export function parsePricePerGb(text: string): number {
  const value = text.trim().replace(/^\$/, '')
  const n = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError('BAD_PRICE', `--egress-price-per-gb ${JSON.stringify(text)} is not a non-negative number.`, {
      suggestions: ['Give the price per GB as a plain number in the table\'s currency (USD), e.g. --egress-price-per-gb 0.09; 0 when the transfer is free (a cluster in the bucket\'s region).'],
    })
  }
  return n
}
