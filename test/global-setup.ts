import {execFileSync} from 'node:child_process'

// Integration tests run the built CLI (bin/run.js): build first when the sources are newer.
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/bootstrap.mjs'], {stdio: 'inherit'})
}
