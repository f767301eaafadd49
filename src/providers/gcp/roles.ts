/**
 * The predefined roles that matter for reading a bucket, with the storage permissions each holds
 * (from Google Cloud's IAM roles and permissions reference for Cloud Storage, roles/storage.*, and
 * the basic roles). Only the three permissions the ingest walker needs are decided from this table;
 * a role that is not in it is looked up (custom roles) or reported as unknown, never guessed.
 */

/** What the cluster's walker calls, by permission. */
export const WALKER_PERMISSIONS = ['storage.buckets.get', 'storage.objects.list', 'storage.objects.get'] as const
export type WalkerPermission = (typeof WALKER_PERMISSIONS)[number]

/** The two roles ingestgate grants, and why each. */
export const GRANTED_ROLES = {
  objectViewer: 'roles/storage.objectViewer',
  legacyBucketReader: 'roles/storage.legacyBucketReader',
} as const

const R = (...p: string[]) => p

/** Predefined role -> the storage permissions relevant here that it includes. */
export const PREDEFINED_ROLES: Readonly<Record<string, readonly string[]>> = {
  'roles/storage.objectViewer': R('storage.objects.get', 'storage.objects.list', 'storage.folders.get', 'storage.folders.list', 'storage.managedFolders.get', 'storage.managedFolders.list'),
  'roles/storage.objectCreator': R('storage.objects.create', 'storage.folders.create', 'storage.managedFolders.create', 'storage.multipartUploads.create'),
  'roles/storage.objectUser': R('storage.objects.get', 'storage.objects.list', 'storage.objects.create', 'storage.objects.delete', 'storage.objects.update', 'storage.objects.restore'),
  'roles/storage.objectAdmin': R('storage.objects.get', 'storage.objects.list', 'storage.objects.create', 'storage.objects.delete', 'storage.objects.update', 'storage.objects.getIamPolicy', 'storage.objects.setIamPolicy'),
  'roles/storage.admin': R(
    'storage.buckets.get', 'storage.buckets.list', 'storage.buckets.update', 'storage.buckets.create', 'storage.buckets.delete',
    'storage.buckets.getIamPolicy', 'storage.buckets.setIamPolicy', 'storage.objects.get', 'storage.objects.list',
    'storage.objects.create', 'storage.objects.delete', 'storage.objects.update', 'storage.objects.getIamPolicy', 'storage.objects.setIamPolicy',
  ),
  'roles/storage.bucketViewer': R('storage.buckets.get', 'storage.buckets.list'),
  'roles/storage.legacyBucketReader': R('storage.buckets.get', 'storage.objects.list'),
  'roles/storage.legacyBucketWriter': R('storage.buckets.get', 'storage.objects.list', 'storage.objects.create', 'storage.objects.delete'),
  'roles/storage.legacyBucketOwner': R('storage.buckets.get', 'storage.buckets.update', 'storage.buckets.getIamPolicy', 'storage.buckets.setIamPolicy', 'storage.objects.list', 'storage.objects.create', 'storage.objects.delete'),
  'roles/storage.legacyObjectReader': R('storage.objects.get'),
  'roles/storage.legacyObjectOwner': R('storage.objects.get', 'storage.objects.update', 'storage.objects.getIamPolicy', 'storage.objects.setIamPolicy'),
  'roles/storage.insightsCollectorService': R('storage.buckets.get', 'storage.objects.list'),
  // Basic roles hold bucket permissions; object access reaches project members through the
  // convenience members (projectViewer: etc.) on the legacy roles of the bucket's own policy.
  'roles/owner': R('storage.buckets.get', 'storage.buckets.list', 'storage.buckets.update', 'storage.buckets.create', 'storage.buckets.delete', 'storage.buckets.getIamPolicy', 'storage.buckets.setIamPolicy'),
  'roles/editor': R('storage.buckets.get', 'storage.buckets.list', 'storage.buckets.update', 'storage.buckets.create', 'storage.buckets.delete'),
  'roles/viewer': R('storage.buckets.get', 'storage.buckets.list'),
}

/** Roles that hold storage.buckets.setIamPolicy, for the remedy of a refused write. */
export const SET_IAM_POLICY_ROLE = 'roles/storage.admin'

/** Whether a role name is a custom role (projects/P/roles/R or organizations/O/roles/R). */
export function isCustomRole(role: string): boolean {
  return /^(projects|organizations)\/[^/]+\/roles\/[^/]+$/.test(role)
}
