/** Checks on the endpoint flags every cloud has (--endpoint-url, Azure's --arm-endpoint). */
import {ConfigError} from '../errors.js'

/**
 * An endpoint is an absolute http(s) URL with a host, and no credentials, query or fragment;
 * anything else would reach the SDK and come back as an unreadable failure ("TypeError: Invalid
 * URL"). Each cloud adds its own rules on top (https when a token is sent to it).
 * @throws ConfigError BAD_ENDPOINT (exit 3) naming the flag.
 */
export function validateEndpointUrl(value: string, flag: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    // A bare host: http:// for this machine (emulators), https:// anywhere else.
    const host = /^([\w.-]+)(:\d+)?(\/.*)?$/.exec(value)?.[1]
    const guess = host ? ` Did you mean ${/^(127\.\d+\.\d+\.\d+|localhost)$/.test(host) ? 'http' : 'https'}://${value} ?` : ''
    throw new ConfigError('BAD_ENDPOINT', `${flag} "${value}" is not an http:// or https:// URL.${guess}`, {
      suggestions: [`Give the full URL with its scheme, e.g. ${flag} https://storage.example.com or ${flag} http://127.0.0.1:9000 for a local emulator.`],
    })
  }
  if (url.username || url.password) {
    throw new ConfigError('BAD_ENDPOINT', `${flag} must not carry credentials in the URL.`, {suggestions: ['Pass credentials through the cloud\'s own credential chain.']})
  }
  if (url.search || url.hash) {
    throw new ConfigError('BAD_ENDPOINT', `${flag} "${value}" must not carry a query or a fragment.`, {suggestions: ['Give only the scheme, host, port and path of the endpoint.']})
  }
  return url
}
