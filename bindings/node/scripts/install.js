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
function findCli () {
  // Installed from a registry or a tarball, @napi-rs/cli (a dependency) is
  // in the installing project; installed from a path, this package is a
  // link and npm installs none of its dependencies.
  const paths = [root, process.env.INIT_CWD, process.cwd()].filter(Boolean)
  try {
    const pkg = require.resolve('@napi-rs/cli/package.json', { paths })
    return path.join(path.dirname(pkg), require(pkg).bin.napi)
  } catch {
    return null
  }
}

let cli = findCli()
if (cli === null) {
  // Fetch this package's own dependencies into its folder (no scripts: this
  // script is one of them).
  console.log('fusebox: installing @napi-rs/cli next to the package')
  const npm = process.env.npm_execpath
  const args = ['install', '--prefix', root, '--no-save', '--no-package-lock', '--ignore-scripts',
    '--no-audit', '--no-fund', '--omit=dev']
  const r = npm
    ? spawnSync(process.execPath, [npm, ...args], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  cli = r.status === 0 ? findCli() : null
}
if (cli === null) {
  console.error(`fusebox: @napi-rs/cli is missing; run \`npm install\` in ${root}`)
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
