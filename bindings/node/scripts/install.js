'use strict'
// npm "install" script: use the prebuilt addon when one loads on this
// machine, else build it from source (cargo + @napi-rs/cli, release mode).
// FUSEBOX_BUILD_FROM_SOURCE=1 forces a build.

const { spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')

function prebuiltLoads () {
  try {
    require(path.join(root, 'native.js'))
    return true
  } catch {
    return false
  }
}

if (process.env.FUSEBOX_BUILD_FROM_SOURCE !== '1' && prebuiltLoads()) {
  console.log('fusebox: using the prebuilt addon')
  process.exit(0)
}

console.log('fusebox: no prebuilt addon for this platform; building from source (needs Rust: https://rustup.rs)')
let cli
try {
  const pkg = require.resolve('@napi-rs/cli/package.json', { paths: [root] })
  cli = path.join(path.dirname(pkg), require(pkg).bin.napi)
} catch {
  console.error('fusebox: @napi-rs/cli is missing; run `npm install` in', root)
  process.exit(1)
}
const r = spawnSync(process.execPath, [
  cli, 'build', '--platform', '--release', '--js', 'native.js', '--dts', 'native.d.ts'
], { cwd: root, stdio: 'inherit' })
if (r.status !== 0) {
  console.error(`fusebox: the build failed (${r.error ? r.error.message : `exit status ${r.status}`})`)
  process.exit(1)
}
if (!prebuiltLoads()) {
  console.error('fusebox: the addon was built but does not load')
  process.exit(1)
}
