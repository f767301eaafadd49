import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import type {DemoResult} from '../demo/flow.js'
import type {AzureDemoResult} from '../demo/azure.js'
import type {GcpDemoResult} from '../demo/gcp.js'

export interface DemoResults {
  aws?: DemoResult
  gcp?: GcpDemoResult
  azure?: AzureDemoResult
}

export default class Demo extends BaseCommand<DemoResults> {
  static override summary = 'Run the whole flow on local emulators: grant, check, ingest on the reference cluster, revoke.'
  static override description = `For each cloud, on local stand-ins, the real commands a customer admin, a support engineer and a researcher run, each as its own ingestgate process: grant render, grant apply (twice: the second changes nothing), check (static and live, as the ingest principal), the reference cluster acting as the principal, ingest dicom --follow -y, and grant revoke; then everything is stopped. Touches no real cloud and sends nothing off this machine.

AWS runs on moto (from python3, with IAM authorisation on): a bucket of sample DICOM (one patient SSE-KMS encrypted), an unrelated bucket-policy statement and the vendor's ingest role. Google Cloud Storage runs on ingestgate's JSON-API double, which enforces bucket IAM per caller. Azure runs on ingestgate's Resource Manager and Blob Storage doubles (HTTPS on 127.0.0.1, RBAC with ABAC conditions and a propagation delay), with credentials through @azure/identity's Azure CLI path and a stand-in az.`
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --cloud azure', '<%= config.bin %> demo --json']
  static override flags = {
    cloud: Flags.string({description: 'Which cloud\'s story to run.', options: ['all', 'aws', 'gcp', 'azure'], default: 'all'}),
  }

  async run(): Promise<DemoResults> {
    const {flags} = await this.parse(Demo)
    const want = (c: string) => flags.cloud === 'all' || flags.cloud === c
    const opts = {json: this.jsonEnabled()}
    const results: DemoResults = {}
    if (want('aws')) results.aws = await (await import('../demo/flow.js')).runDemo(this.ctx, opts)
    if (want('gcp')) results.gcp = await (await import('../demo/gcp.js')).runGcpDemo(this.ctx, opts)
    if (want('azure')) results.azure = await (await import('../demo/azure.js')).runAzureDemo(this.ctx, opts)
    return results
  }
}
