import {BaseCommand} from '../base-command.js'
import type {DemoResult} from '../demo/aws-grant.js'

export default class Demo extends BaseCommand<DemoResult> {
  static override summary = 'Run the whole flow on local emulators: seed a bucket, render, apply, re-apply, revoke.'
  static override description =
    'Starts a local AWS emulator (moto, from python3), creates a bucket with objects (one SSE-KMS encrypted), a KMS key, an ingest role and an unrelated existing bucket-policy statement, then runs grant render, apply, apply again (no changes), shows the policy, revokes, and stops the emulator. Touches no real cloud.'
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --json']

  async run(): Promise<DemoResult> {
    await this.parse(Demo)
    const {runAwsGrantDemo} = await import('../demo/aws-grant.js')
    return runAwsGrantDemo(this.ctx)
  }
}
