/**
 * JSON Schema validation for every document the tool reads (site files, server answers), with ajv.
 * Schemas live in schemas/ at the package root and are compiled once, on first use.
 */
import {readFile} from 'node:fs/promises'

import type {ErrorObject, ValidateFunction} from 'ajv'

const compiled = new Map<string, ValidateFunction>()

async function validator(name: string): Promise<ValidateFunction> {
  let fn = compiled.get(name)
  if (!fn) {
    const {default: Ajv} = await import('ajv')
    const schema = JSON.parse(await readFile(new URL(`../schemas/${name}.schema.json`, import.meta.url), 'utf8'))
    fn = new Ajv.default({allErrors: true, strict: true, verbose: true}).compile(schema)
    compiled.set(name, fn)
  }
  return fn
}

/** One readable sentence per schema error, each naming the field by its JSON path. */
export function describeSchemaErrors(errors: ErrorObject[] | null | undefined): string[] {
  // An if/then failure only says that a branch failed; the branch's own errors say what and where.
  return (errors ?? []).filter((e) => e.keyword !== 'if').map((e) => {
    const at = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : '(top level)'
    // The value is quoted so the user sees what is wrong with it, unless the field may hold a secret.
    const value = (v: unknown) => (/key|token|secret|password|sig/i.test(at) || v === undefined || typeof v === 'object' ? '' : `${JSON.stringify(v)} `)
    switch (e.keyword) {
      case 'enum':
        return `${at}: ${JSON.stringify(e.data)} is not one of ${(e.params as {allowedValues: unknown[]}).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
      case 'additionalProperties':
        return `${at === '(top level)' ? '' : at + '.'}${(e.params as {additionalProperty: string}).additionalProperty}: unknown field`
      case 'required':
        return `${at === '(top level)' ? '' : at + '.'}${(e.params as {missingProperty: string}).missingProperty}: required field is missing`
      case 'pattern':
        return `${at}: ${value(e.data)}${e.parentSchema && (e.parentSchema as {description?: string}).description ? `is not valid (${(e.parentSchema as {description: string}).description})` : 'has the wrong format'}`
      default:
        return `${at}: ${value(e.data)}${e.message}`
    }
  })
}

/** Validate `data` against schemas/NAME.schema.json; [] when valid. */
export async function validateWithSchema(name: string, data: unknown): Promise<string[]> {
  const fn = await validator(name)
  return fn(data) ? [] : describeSchemaErrors(fn.errors)
}
