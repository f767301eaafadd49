/** Checks on the endpoint flags every cloud has (--endpoint-url, Azure's --arm-endpoint). */
import {ConfigError} from '../errors.js'

/**
 * An endpoint is an absolute http(s) URL with a host; anything else would reach the SDK and come
 * back as an unreadable failure ("TypeError: Invalid URL").
 * @throws ConfigError BAD_ENDPOINT (exit 3) naming the flag.
 */
export function validateEndpointUrl(value: string, flag: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    const guess = /^[\w.-]+(:\d+)?(\/.*)?$/.test(value) ? ` Did you mean http://${value} ?` : ''
    throw new ConfigError('BAD_ENDPOINT', `${flag} "${value}" is not an http:// or https:// URL.${guess}`, {
      suggestions: [`Give the full URL with its scheme, e.g. ${flag} https://storage.example.com or ${flag} http://127.0.0.1:9000 for a local emulator.`],
    })
  }
  if (url.username || url.password) {
    throw new ConfigError('BAD_ENDPOINT', `${flag} must not carry credentials in the URL.`, {suggestions: ['Pass credentials through the cloud\'s own credential chain.']})
  }
  return url
}
