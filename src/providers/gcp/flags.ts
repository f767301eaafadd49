/**
 * The GCP provider's flags, under the GCP heading of --help. Imports nothing but oclif, so the
 * manifest and --help load no Google library.
 */
import {Flags} from '@oclif/core'

import type {ProviderFlagSet} from '../types.js'

const heading = 'GCP'

const impersonate = Flags.string({
  description: 'Act as this service account (as gcloud --impersonate-service-account): your credentials mint its token through IAM Credentials, which needs roles/iam.serviceAccountTokenCreator on it.',
  helpValue: 'EMAIL',
  helpGroup: heading,
})
const billingProject = Flags.string({
  description: 'Billing project for calls that need one (requester-pays buckets), as gcloud --billing-project: sent as userProject.',
  helpValue: 'PROJECT_ID',
  helpGroup: heading,
})
const endpoint = Flags.string({
  description: 'The storage endpoint. gs://: the Cloud Storage JSON API root (Private Service Connect, a test double); credentials are sent to it, over https unless it is on this machine.',
  helpValue: 'URL',
  helpGroup: heading,
})

export const gcpFlags: ProviderFlagSet = {
  heading,
  cloud: {'impersonate-service-account': impersonate, 'billing-project': billingProject, 'endpoint-url': endpoint},
  live: {
    'impersonate-principal': Flags.boolean({
      description: 'gs://: run the live layer as the ingest service account by impersonating it with your credentials (needs roles/iam.serviceAccountTokenCreator on it). Without it the live layer runs with the ambient credentials, which must be the principal.',
      helpGroup: heading,
    }),
  },
  cluster: {'impersonate-service-account': impersonate, 'billing-project': billingProject, 'endpoint-url': endpoint},
}
