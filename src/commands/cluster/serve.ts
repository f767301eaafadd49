import {join} from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {cloudFlags} from '../../cli/flags.js'
import {registerApiKey} from '../../output/redact.js'

export interface ClusterServeResult {
  url: string
  dataDir: string
  /** The signal that stopped the cluster. */
  stoppedBy: string
}

export default class ClusterServe extends BaseCommand<ClusterServeResult> {
  static override summary = 'Run the reference ingest cluster locally: the vendor cluster API, acting as the ingest principal.'
  static override description =
    'Serves the ingest-cluster HTTP API (the one `fw ingest ... --cluster URL` and `ingestgate ingest` speak) under http://HOST:PORT/ingest, and runs each ingest for real (dicom, folder and template; project is refused): it lists the source as the ingest principal, resolves group/project/subject/session/acquisition from the DICOM headers (dicom: ranged reads of the headers only) or from the folders (folder, template: nothing read), waits for review unless the ingest was started with -y, copies the files into DATA_DIR/dest/, and writes the report and audit log. State is kept in DATA_DIR/cluster.db: a restart resumes ingests where they were. The API key comes from --api-key or INGESTGATE_CLUSTER_API_KEY and is never printed. Runs until Ctrl-C (SIGINT) or SIGTERM. See docs/cluster-serve.md.'
  static override examples = [
    '<%= config.bin %> cluster serve --port 8765 --data-dir ./rehearsal',
    '<%= config.bin %> cluster serve --assume-role arn:aws:iam::111122223333:role/vendor-ingest --profile vendor',
    '<%= config.bin %> cluster serve --endpoint-url http://127.0.0.1:5000 --data-dir /tmp/cluster',
  ]
  static override flags = {
    port: Flags.integer({description: 'TCP port to listen on (0: any free port; the URL is printed).', default: 0, min: 0, max: 65535}),
    host: Flags.string({description: 'Interface to listen on: an IP address of this machine, or localhost (0.0.0.0: every interface).', default: '127.0.0.1'}),
    'data-dir': Flags.string({description: 'Directory for the state database, the destination tree and the reports (default: STATE_DIR/cluster).'}),
    'api-key': Flags.string({description: 'The API key clients must send.', env: 'INGESTGATE_CLUSTER_API_KEY'}),
    ...cloudFlags('cloud', 'cluster'),
  }

  async run(): Promise<ClusterServeResult> {
    const {flags} = await this.parse(ClusterServe)
    // Each cloud validates its flags now (a malformed --assume-role would otherwise fail every ingest later).
    const {getProvider, providerFlagSets} = await import('../../providers/index.js')
    for (const [id] of providerFlagSets()) (await getProvider(id)).readOptions({flags, env: this.ctx.env, purpose: 'cluster'})
    const apiKey = flags['api-key'] ?? ''
    registerApiKey(apiKey)
    // Listen for the stop signals before anything is announced (a signal that comes during start-up
    // stops the cluster once it is up), and keep listening until the stop is done: a second Ctrl-C
    // while stopping does not cut it short.
    let onSignal: (signal: NodeJS.Signals) => void = () => {}
    const signalled = new Promise<string>((resolve) => {
      onSignal = (signal) => resolve(signal)
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
    })
    try {
      const {startCluster} = await import('../../cluster/server.js')
      const ui = this.ctx.ui
      const handle = await startCluster({
        port: flags.port,
        host: flags.host,
        dataDir: flags['data-dir'] ?? join(this.ctx.stateDir, 'cluster'),
        apiKey,
        cloudFlags: flags,
        env: this.ctx.env,
        log: (line) => ui.info(`[${this.ctx.now().toISOString()}] ${line}`),
      })
      ui.info(`Reference cluster listening on ${handle.url} (data in ${handle.dataDir}). Stop it with Ctrl-C.`)
      if (!this.jsonEnabled()) ui.out(handle.url)
      const stoppedBy = await signalled
      ui.info(`Stopping (${stoppedBy}); ingests in progress resume at the next start.`)
      await handle.stop()
      return {url: handle.url, dataDir: handle.dataDir, stoppedBy}
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}
