// Loaded with `node --import`: records every module URL the process resolves into the file named by
// IG_TRACE_IMPORTS, so tests can prove which packages a command loads.
import {register} from 'node:module'

register(
  'data:text/javascript,' +
    encodeURIComponent(`
import {appendFileSync} from 'node:fs'
export async function resolve(specifier, context, next) {
  const out = await next(specifier, context)
  if (process.env.IG_TRACE_IMPORTS) appendFileSync(process.env.IG_TRACE_IMPORTS, out.url + '\\n')
  return out
}`),
)
