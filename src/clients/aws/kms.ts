/** The KMS port: regional clients, created on first use, for the key and grant calls ingestgate makes. */
import type * as KmsSdk from '@aws-sdk/client-kms'

import type {Call, KmsGrant, KmsPort} from './index.js'

export function createKmsPorts(kmssdk: typeof KmsSdk, base: object, call: Call): (region: string) => KmsPort {
  const kmsClients = new Map<string, InstanceType<typeof kmssdk.KMSClient>>()
  return (region: string): KmsPort => {
    let client = kmsClients.get(region)
    if (!client) {
      client = new kmssdk.KMSClient({...base, region})
      kmsClients.set(region, client)
    }
    const kms = client
    return {
      describeKey: (KeyId) =>
        call(`describing KMS key ${KeyId}`, async () => {
          const out = await kms.send(new kmssdk.DescribeKeyCommand({KeyId}))
          const md = out.KeyMetadata
          return {arn: md?.Arn ?? KeyId, keyManager: md?.KeyManager ?? 'CUSTOMER', keyState: md?.KeyState}
        }),
      listGrants: (KeyId) =>
        call(`listing the grants of KMS key ${KeyId}`, async () => {
          const grants: KmsGrant[] = []
          let Marker: string | undefined
          do {
            const out = await kms.send(new kmssdk.ListGrantsCommand({KeyId, Marker}))
            for (const g of out.Grants ?? []) {
              const c = g.Constraints
              grants.push({
                grantId: g.GrantId ?? '',
                name: g.Name,
                granteePrincipal: g.GranteePrincipal,
                operations: g.Operations ?? [],
                ...(c && (c.EncryptionContextSubset || c.EncryptionContextEquals)
                  ? {constraints: {encryptionContextSubset: c.EncryptionContextSubset, encryptionContextEquals: c.EncryptionContextEquals}}
                  : {}),
              })
            }
            Marker = out.Truncated ? out.NextMarker : undefined
          } while (Marker)
          return grants
        }),
      createGrant: ({keyArn, grantee, operations, name}) =>
        call(`creating a grant on KMS key ${keyArn}`, async () => {
          const out = await kms.send(
            new kmssdk.CreateGrantCommand({KeyId: keyArn, GranteePrincipal: grantee, Operations: operations as never, Name: name}),
          )
          return out.GrantId ?? ''
        }),
      retireGrant: (KeyId, GrantId) =>
        call(`retiring grant ${GrantId} on KMS key ${KeyId}`, async () => {
          await kms.send(new kmssdk.RetireGrantCommand({KeyId, GrantId}))
        }),
      revokeGrant: (KeyId, GrantId) =>
        call(`revoking grant ${GrantId} on KMS key ${KeyId}`, async () => {
          await kms.send(new kmssdk.RevokeGrantCommand({KeyId, GrantId}))
        }),
      getKeyPolicy: (KeyId) =>
        call(`reading the key policy of KMS key ${KeyId}`, async () => {
          const out = await kms.send(new kmssdk.GetKeyPolicyCommand({KeyId, PolicyName: 'default'}))
          return out.Policy ?? ''
        }),
    }
  }
}
