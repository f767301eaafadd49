import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each start their own emulator on a free port; two cores, so keep it modest.
    maxWorkers: 2,
    // No test may reach a metadata server: google-auth-library probes one when it finds no credentials.
    env: {AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_EC2_METADATA_DISABLED: 'true', METADATA_SERVER_DETECTION: 'none'},
  },
})
