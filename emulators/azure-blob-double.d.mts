// Types of azure-blob-double.mjs for the TypeScript callers (tests, the demo).
import type {ArmSeed, AzureWorld} from './azure-arm-double.mjs'

export interface BlobDouble {
  url: string
  endpoint(account: string): string
  port: number
  world: AzureWorld
  ca: string
  caPath?: string
  stop(): Promise<void>
}
export function startBlobDouble(opts: {world: AzureWorld; tls?: {cert: string; key: string; certPath?: string}; port?: number; clientAddress?: string}): Promise<BlobDouble>
export function putBlob(world: AzureWorld, account: string, container: string, name: string, body: string | Uint8Array, contentType?: string): void
export interface AzureDoubles {
  world: AzureWorld
  arm: {url: string; port: number; stop(): Promise<void>}
  blob: BlobDouble
  ca: string
  caPath: string
  stop(): Promise<void>
}
export function startAzureDoubles(seed: ArmSeed, opts?: {clientAddress?: string}): Promise<AzureDoubles>
