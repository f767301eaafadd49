/** What grant apply and grant revoke share: the same flags, and plan → confirm → execute. */
import {Flags} from '@oclif/core'

import {BaseCommand} from './base-command.js'
import {cloudFlags, grantRequest, principalFlags, sourceArg} from './flags.js'
import {runGrantPlan, type GrantOutcome} from './providers/grant-flow.js'

export abstract class GrantChangeCommand extends BaseCommand<GrantOutcome> {
  static override args = {source: sourceArg}
  static override flags = {
    ...principalFlags,
    ...cloudFlags,
    'dry-run': Flags.boolean({description: 'Show the plan and make no write call.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
  }

  protected abstract readonly verb: 'apply' | 'revoke'

  async run(): Promise<GrantOutcome> {
    // oclif spreads the class it parses with, which drops inherited statics: name them explicitly.
    const {args, flags, baseFlags, enableJsonFlag} = GrantChangeCommand
    const parsed = await this.parse({args, flags, baseFlags, enableJsonFlag})
    const {source} = parsed.args
    const opts = parsed.flags
    const {provider, req} = await grantRequest(source, opts)
    const plan = this.verb === 'apply' ? await provider.planApply(this.ctx, req) : await provider.planRevoke(this.ctx, req)
    return runGrantPlan(this.ctx, plan, {verb: this.verb, dryRun: opts['dry-run'], yes: opts.yes, source: req.source.url, principal: req.principal})
  }
}
