// Types of azure-common.mjs for the TypeScript callers (tests, the demo).
export function generateCertificate(dir: string, openssl?: string): {cert: string; key: string; certPath: string; keyPath: string}
export function scratchDir(prefix?: string): {dir: string; remove(): void}
export function signToken(p: {oid: string; tid: string; key: string; aud: string; appid?: string; lifetimeSeconds?: number; now?: number}): string
export function compileCondition(text: string): (ctx: {action: string; subOperation?: string; attributes: Record<string, string | undefined>}) => boolean
export function actionMatches(pattern: string, action: string): boolean
export const BUILT_IN_ROLES: Array<{name: string; roleName: string; actions: string[]; notActions?: string[]; dataActions?: string[]; notDataActions?: string[]}>
