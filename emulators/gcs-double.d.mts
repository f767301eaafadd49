/** Types of gcs-double.mjs (plain JavaScript, no build step), for the TypeScript that starts it. */
export interface GcsBinding {
  role: string
  members: string[]
  condition?: {title?: string; description?: string; expression: string}
}
export interface GcsRequestLine {
  method: string
  path: string
  query: string
  op: string
  status: number
  member: string | null
}
export interface GcsBucketSettings {
  project?: string
  projectNumber?: string
  uniformBucketLevelAccess?: boolean
  publicAccessPrevention?: 'inherited' | 'enforced'
  requesterPays?: boolean
  defaultKmsKeyName?: string
  retentionPolicy?: object
  /** Any case; stored and returned upper-case, as the JSON API does (`us-central1` -> `US-CENTRAL1`). */
  location?: string
  bindings?: GcsBinding[]
  allowedMemberDomains?: string[]
}
export interface GcsPolicyJson {
  kind: string
  resourceId: string
  version: number
  etag: string
  bindings: GcsBinding[]
}
export interface ProjectMembers {
  owner?: string[]
  editor?: string[]
  viewer?: string[]
  bindings?: GcsBinding[]
}
export interface GcsDouble {
  port: number
  url: string
  requests: GcsRequestLine[]
  addToken(token: string, member: string): void
  addProject(id: string, members: ProjectMembers): void
  createBucket(name: string, settings?: GcsBucketSettings): unknown
  updateBucket(name: string, settings: GcsBucketSettings): void
  putObject(bucket: string, name: string, data: Uint8Array | string, contentType?: string): void
  setPolicy(bucket: string, bindings: GcsBinding[], version?: number): void
  getPolicy(bucket: string): GcsPolicyJson
  interleaveWrite(bucket: string, bindings: GcsBinding[]): void
  addServiceAccount(email: string, tokenCreators?: string[]): void
  addCustomRole(name: string, permissions: string[]): void
  addDenyPolicy(projectNumber: string, id: string): void
  count(op: string): number
  setPropagationDelay(ms: number): void
  stop(): Promise<void>
}
export interface GcsDoubleOptions {
  port?: number
  host?: string
  tokens?: Record<string, string>
  projects?: Record<string, ProjectMembers>
  log?: (line: GcsRequestLine) => void
}
export const ROLE_PERMISSIONS: Record<string, string[]>
export function evaluateCel(expression: string, req: {name: string; type: string; listPrefix?: string}): boolean
export function startGcsDouble(options?: GcsDoubleOptions): Promise<GcsDouble>

/** The JSON API's locationType for an (upper-case) location: multi-region, dual-region or region. */
export function locationTypeOf(location: string): 'multi-region' | 'dual-region' | 'region'
