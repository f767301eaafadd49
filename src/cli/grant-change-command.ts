/** What grant apply and grant revoke share: the same flags, and plan → confirm → execute. */
import {Flags} from '@oclif/core'

import {runGrantPlan, type GrantOutcome} from '../providers/grant-flow.js'
import {BaseCommand} from './base-command.js'
import {cloudFlags, grantRequest, principalFlags, sourceArg} from './flags.js'

export abstract class GrantChangeCommand extends BaseCommand<GrantOutcome> {
  static override args = {source: sourceArg}
  static override flags = {
    ...principalFlags,
    'dry-run': Flags.boolean({description: 'Show the plan and make no write call.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
    ...cloudFlags('cloud', 'grant'),
  }

  protected abstract readonly verb: 'apply' | 'revoke'

  async run(): Promise<GrantOutcome> {
    // oclif spreads the class it parses with, which drops inherited statics: name them explicitly.
    const {args, flags, baseFlags, enableJsonFlag} = GrantChangeCommand
    const parsed = await this.parse({args, flags, baseFlags, enableJsonFlag})
    const opts = parsed.flags
    const {provider, req} = await grantRequest(parsed.args.source, opts, {purpose: 'grant', groups: ['cloud', 'grant'], env: this.ctx.env})
    const plan = this.verb === 'apply' ? await provider.planApply(this.ctx, req) : await provider.planRevoke(this.ctx, req)
    for (const w of plan.warnings ?? []) this.warn(w)
    return runGrantPlan(this.ctx, plan, {verb: this.verb, dryRun: opts['dry-run'], yes: opts.yes, source: req.source.url, principal: req.principal})
  }
}
