import {describe, expect, it} from 'vitest'

import {backoffDelay, formatDuration, parseDuration} from '../../src/core/duration.js'
import {buildResult, groupRows, isOk, sortRows, summarise, worstOutcome, type CheckRow} from '../../src/core/verdict.js'

const row = (over: Partial<CheckRow>): CheckRow => ({
  operation: 'get',
  resource: 's3://b/k',
  layer: 'static',
  outcome: 'pass',
  code: 'allowed',
  cause: 'allowed by bucket policy "Read" (#0)',
  decidedBy: ['bucket policy "Read" (#0)'],
  remedy: '',
  ...over,
})

describe('verdict', () => {
  it('is ok only when every row passes or is skipped, and there is a row', () => {
    expect(isOk([row({}), row({outcome: 'skip'})])).toBe(true)
    expect(isOk([row({}), row({outcome: 'unknown'})])).toBe(false)
    expect(isOk([row({}), row({outcome: 'fail'})])).toBe(false)
    expect(isOk([])).toBe(false)
  })

  it('orders outcomes fail > unknown > pass > skip', () => {
    expect(worstOutcome('pass', 'unknown')).toBe('unknown')
    expect(worstOutcome('fail', 'unknown')).toBe('fail')
    expect(worstOutcome('skip', 'pass')).toBe('pass')
  })

  it('sorts static before live, then by operation, keeping sample order', () => {
    const rows = [
      row({layer: 'live', operation: 'list'}),
      row({operation: 'decrypt'}),
      row({operation: 'get', resource: 's3://b/2'}),
      row({operation: 'list'}),
      row({operation: 'get', resource: 's3://b/1'}),
    ]
    expect(sortRows(rows, ['list', 'region', 'get', 'get-attributes', 'decrypt']).map((r) => `${r.layer}:${r.operation}:${r.resource}`)).toEqual([
      'static:list:s3://b/k',
      'static:get:s3://b/2',
      'static:get:s3://b/1',
      'static:decrypt:s3://b/k',
      'live:list:s3://b/k',
    ])
  })

  it('groups rows that say the same thing about different objects, and nothing else', () => {
    const groups = groupRows([
      row({resource: 's3://b/1'}),
      row({resource: 's3://b/2'}),
      row({resource: 's3://b/3', outcome: 'fail', code: 'implicit-deny', cause: 'no', decidedBy: []}),
      row({resource: 's3://b/4', layer: 'live'}),
    ])
    expect(groups.map((g) => g.resources)).toEqual([['s3://b/1', 's3://b/2'], ['s3://b/3'], ['s3://b/4']])
  })

  it('buildResult derives ok and the summary from the rows', () => {
    const r = buildResult({source: 's3://b', principal: 'p', layers: ['static'], identities: {}, findings: [], operations: [row({}), row({outcome: 'unknown'})]})
    expect(r.ok).toBe(false)
    expect(r.summary).toEqual({pass: 1, fail: 0, unknown: 1, skip: 0})
    expect(summarise([])).toEqual({pass: 0, fail: 0, unknown: 0, skip: 0})
  })
})

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['90', 90_000],
    ['1.5m', 90_000],
    ['250ms', 250],
    [' 2M ', 120_000],
  ])('%s = %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['', 'soon', '5 minutes', '-5s', '5x', 'm5'])('refuses %j with a usage error naming the forms', (text) => {
    expect(() => parseDuration(text)).toThrow(expect.objectContaining({code: 'BAD_DURATION', exitCode: 2}))
  })

  it('formats for progress lines', () => {
    expect(formatDuration(250)).toBe('250ms')
    expect(formatDuration(45_000)).toBe('45s')
    expect(formatDuration(90_000)).toBe('1m 30s')
    expect(formatDuration(300_000)).toBe('5m')
  })

  it('backs off exponentially up to a cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
    expect(backoffDelay(3, {initialMs: 10, factor: 3, maxMs: 50})).toBe(50)
  })
})
