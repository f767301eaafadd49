/**
 * Secret redaction: the last line of defence before anything reaches stdout, stderr, a log or a
 * backup. Values known to be secret are replaced wherever they occur; well-known secret shapes
 * (AWS secret keys and session tokens, SAS signatures, bearer tokens) are replaced by pattern.
 */

const known = new Set<string>()

/** Register a secret value (an API key, a secret access key) so it is redacted everywhere. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) known.add(value)
}

/** Register an API key: the whole `<host>:<secret>` form `fw login` stores, and its secret part alone. */
export function registerApiKey(key: string | undefined): void {
  registerSecret(key)
  registerSecret(key?.slice(key.lastIndexOf(':') + 1))
}

const PATTERNS: Array<[RegExp, string]> = [
  // SAS query parameters: the signature is the secret, but the whole token is sensitive.
  [/([?&]sig=)[^&\s"']+/gi, '$1[REDACTED]'],
  // Not an ARM resource id such as .../providers/Microsoft.Authorization/roleDefinitions/GUID.
  [/(\bAuthorization(?!\/):?\s*"?\s*(?:Bearer|scitran-user)?\s*)[^\s"',]+/gi, '$1[REDACTED]'],
  [/((?:aws_)?secret_?access_?key"?\s*[:=]\s*"?)[A-Za-z0-9/+=]{40}/gi, '$1[REDACTED]'],
  [/((?:aws_)?session_?token"?\s*[:=]\s*"?)[A-Za-z0-9/+=]{100,}/gi, '$1[REDACTED]'],
  [/(X-Amz-Security-Token=)[^&\s"']+/g, '$1[REDACTED]'],
  [/(X-Amz-Signature=)[0-9a-f]+/g, '$1[REDACTED]'],
  // A JWT (Microsoft Entra ID access tokens): header.payload.signature, base64url.
  [/\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+/g, '[REDACTED]'],
]

/** Return `text` with every registered secret and every secret-shaped token replaced. */
export function redact(text: string): string {
  let out = text
  for (const value of known) out = out.split(value).join('[REDACTED]')
  for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement)
  return out
}
