/** The IAM port (global; its SDK is loaded on first use only): the principal's own policies, for check. */
import type {Call, IamPort} from './index.js'

export function createIamPort(base: {region: string}, endpoint: string | undefined, call: Call): () => Promise<IamPort> {
  return async (): Promise<IamPort> => {
    const iamsdk = await import('@aws-sdk/client-iam')
    // IAM is global: its endpoint is in us-east-1 whatever region the bucket is in (emulators take any).
    const iam = new iamsdk.IAMClient({...base, region: endpoint ? base.region : 'us-east-1'})
    // IAM returns policy documents URL-encoded (RFC 3986); some stores return the JSON as is.
    const decode = (doc: string | undefined) => {
      const text = (doc ?? '').trim()
      return text.startsWith('{') ? text : decodeURIComponent(text)
    }
    const pages = async <T>(fetch: (Marker?: string) => Promise<{items: T[]; IsTruncated?: boolean; Marker?: string}>) => {
      const all: T[] = []
      let Marker: string | undefined
      do {
        const page = await fetch(Marker)
        all.push(...page.items)
        Marker = page.IsTruncated ? page.Marker : undefined
      } while (Marker)
      return all
    }
    return {
      getRole: (RoleName) =>
        call(`reading IAM role ${RoleName}`, async () => {
          const out = await iam.send(new iamsdk.GetRoleCommand({RoleName}))
          return {arn: out.Role?.Arn ?? '', roleId: out.Role?.RoleId ?? '', permissionsBoundaryArn: out.Role?.PermissionsBoundary?.PermissionsBoundaryArn}
        }),
      listRolePolicies: (RoleName) =>
        call(`listing the inline policies of IAM role ${RoleName}`, () =>
          pages(async (Marker) => {
            const out = await iam.send(new iamsdk.ListRolePoliciesCommand({RoleName, Marker}))
            return {items: out.PolicyNames ?? [], IsTruncated: out.IsTruncated, Marker: out.Marker}
          }),
        ),
      getRolePolicy: (RoleName, PolicyName) =>
        call(`reading inline policy ${PolicyName} of IAM role ${RoleName}`, async () => {
          const out = await iam.send(new iamsdk.GetRolePolicyCommand({RoleName, PolicyName}))
          return decode(out.PolicyDocument)
        }),
      listAttachedRolePolicies: (RoleName) =>
        call(`listing the managed policies of IAM role ${RoleName}`, () =>
          pages(async (Marker) => {
            const out = await iam.send(new iamsdk.ListAttachedRolePoliciesCommand({RoleName, Marker}))
            return {items: (out.AttachedPolicies ?? []).map((p) => ({name: p.PolicyName ?? '', arn: p.PolicyArn ?? ''})), IsTruncated: out.IsTruncated, Marker: out.Marker}
          }),
        ),
      getPolicyDocument: (PolicyArn) =>
        call(`reading managed policy ${PolicyArn}`, async () => {
          const policy = await iam.send(new iamsdk.GetPolicyCommand({PolicyArn}))
          const VersionId = policy.Policy?.DefaultVersionId
          const out = await iam.send(new iamsdk.GetPolicyVersionCommand({PolicyArn, VersionId}))
          return decode(out.PolicyVersion?.Document)
        }),
    }
  }
}
