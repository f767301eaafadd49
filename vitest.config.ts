import {fileURLToPath} from 'node:url'

import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each start their own emulator on a free port; two cores, so keep it modest.
    maxWorkers: 2,
    // No test may reach a metadata server: google-auth-library probes one when it finds no credentials,
    // and so does Azure's DefaultAzureCredential (managed identity) unless one credential is selected:
    // the Azure CLI credential, with the stand-in `az` first on PATH (not logged in unless a test says so).
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_EC2_METADATA_DISABLED: 'true',
      METADATA_SERVER_DETECTION: 'none',
      AZURE_TOKEN_CREDENTIALS: 'AzureCliCredential',
      PATH: `${fileURLToPath(new URL('./emulators/azure-cli-standin', import.meta.url))}:${process.env.PATH ?? ''}`,
    },
  },
})
