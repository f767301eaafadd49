#!/usr/bin/env node
// The AWS SDK warns about Node 20 on every call; the warning is noise for a CLI user.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
import {execute, settings} from '@oclif/core'

// The built CLI always runs the compiled dist/, whatever NODE_ENV says (oclif would otherwise look
// for src/*.ts under NODE_ENV=test|development); bin/dev.js is the way to run the sources.
settings.enableAutoTranspile = false
await execute({dir: import.meta.url})
