/**
 * IP address and CIDR parsing for the IpAddress / NotIpAddress condition operators (IPv4 and IPv6).
 */

/** An address as 16-bit words: 2 words for IPv4, 8 for IPv6. */
export interface ParsedIp {
  words: number[]
}

/** A network: address words plus prefix length in bits. */
export interface ParsedCidr extends ParsedIp {
  bits: number
}

function parseV4(s: string): number[] | null {
  const parts = s.split('.')
  if (parts.length !== 4) return null
  const bytes: number[] = []
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null
    const n = Number(p)
    if (n > 255) return null
    bytes.push(n)
  }
  return [(bytes[0]! << 8) | bytes[1]!, (bytes[2]! << 8) | bytes[3]!]
}

function parseV6(s: string): number[] | null {
  let head = s
  let tailV4: number[] = []
  const lastColon = s.lastIndexOf(':')
  if (s.includes('.')) {
    const v4 = parseV4(s.slice(lastColon + 1))
    if (v4 === null) return null
    tailV4 = v4
    head = s.slice(0, lastColon + 1)
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1)
  }
  const double = head.indexOf('::')
  if (double !== head.lastIndexOf('::')) return null
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return []
    const out: number[] = []
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
      out.push(parseInt(g, 16))
    }
    return out
  }
  const want = 8 - tailV4.length
  let groups: number[]
  if (double >= 0) {
    const left = parseGroups(head.slice(0, double))
    const right = parseGroups(head.slice(double + 2))
    if (left === null || right === null) return null
    const fill = want - left.length - right.length
    if (fill < 1) return null
    groups = [...left, ...new Array<number>(fill).fill(0), ...right]
  } else {
    const all = parseGroups(head)
    if (all === null || all.length !== want) return null
    groups = all
  }
  return [...groups, ...tailV4]
}

/** Parses a bare IPv4 or IPv6 address; null when it is not one. */
export function parseIp(s: string): ParsedIp | null {
  const t = s.trim()
  const words = t.includes(':') ? parseV6(t) : parseV4(t)
  return words === null ? null : {words}
}

const cidrCache = new Map<string, ParsedCidr | null>()

/** Parses `addr/bits` or a bare address (a single-host network); null when malformed. Cached. */
export function parseCidr(s: string): ParsedCidr | null {
  const hit = cidrCache.get(s)
  if (hit !== undefined) return hit
  const slash = s.indexOf('/')
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash))
  let result: ParsedCidr | null = null
  if (ip !== null) {
    const max = ip.words.length * 16
    const bitsText = slash < 0 ? String(max) : s.slice(slash + 1).trim()
    if (/^\d{1,3}$/.test(bitsText) && Number(bitsText) <= max) result = {words: ip.words, bits: Number(bitsText)}
  }
  if (cidrCache.size > 10_000) cidrCache.clear()
  cidrCache.set(s, result)
  return result
}

/** Decides whether `ip` lies inside `net`; addresses of different families never match. */
export function cidrContains(net: ParsedCidr, ip: ParsedIp): boolean {
  if (net.words.length !== ip.words.length) return false
  let bits = net.bits
  for (let i = 0; i < net.words.length && bits > 0; i++) {
    const take = Math.min(16, bits)
    const mask = (0xffff << (16 - take)) & 0xffff
    if ((net.words[i]! & mask) !== (ip.words[i]! & mask)) return false
    bits -= take
  }
  return true
}
