import {BaseCommand} from '../cli/base-command.js'
import type {DemoResult} from '../demo/flow.js'

export default class Demo extends BaseCommand<DemoResult> {
  static override summary = 'Run the whole flow on local emulators: grant, check, ingest on the reference cluster, revoke.'
  static override description =
    'Starts a local AWS emulator (moto, from python3, with IAM authorisation on) and seeds a bucket with sample DICOM (one patient SSE-KMS encrypted), an unrelated bucket-policy statement and the vendor\'s ingest role. Then runs, each as its own ingestgate process: grant render, grant apply (twice: the second changes nothing), check --live, the reference cluster acting as the role, ingest dicom --follow -y, and grant revoke; and stops everything. Touches no real cloud.'
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --json']

  async run(): Promise<DemoResult> {
    await this.parse(Demo)
    const {runDemo} = await import('../demo/flow.js')
    return runDemo(this.ctx, {json: this.jsonEnabled()})
  }
}
