// uuid 9 ships no type declarations; only v5 is used (src/providers/azure/uuid.ts).
declare module 'uuid' {
  export function v5(name: string | Uint8Array, namespace: string | Uint8Array): string
}
