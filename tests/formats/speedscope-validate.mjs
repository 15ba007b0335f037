// SPDX-License-Identifier: MIT
// speedscope-validate: check speedscope files with speedscope's own schema and its real app.
//
//   node speedscope-validate.mjs schema FILE...
//       Validate each FILE against node_modules/speedscope/dist/release/file-format-schema.json
//       (JSON Schema draft-07) with ajv. Prints "OK FILE" or "INVALID FILE: errors"; exit 1 if any
//       file is invalid.
//   node speedscope-validate.mjs load FILE [--expect TEXT]... [--view sandwich] [--screenshot PNG]
//       Open FILE in the speedscope app (node_modules/speedscope/dist/release/index.html) in
//       headless Chromium through playwright-core, the way `speedscope FILE` does: a .js file
//       calling speedscope.loadFileFromBase64(name, b64), passed as #localProfilePath=. Waits
//       until every TEXT is shown (or an error is); prints "OK FILE" or "FAILED FILE: why", exit 1
//       on failure. Exit 77 when Chromium or playwright-core is not available.
//
// Environment: PYPROF_CHROMIUM overrides /usr/bin/chromium.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const release = path.join(here, 'node_modules/speedscope/dist/release')

function usage() {
  console.error('usage: speedscope-validate.mjs schema FILE... | load FILE [--expect TEXT]... ' +
                '[--view sandwich] [--screenshot PNG]')
  process.exit(64)
}

function schemaMode(files) {
  const Ajv = require('ajv')
  const schema = JSON.parse(fs.readFileSync(path.join(release, 'file-format-schema.json'), 'utf8'))
  // The schema is draft-07; ajv 8's default class speaks draft-07. strict: false because the
  // generated schema uses "title" keywords on $ref siblings and similar harmless extras.
  const ajv = new Ajv({ allErrors: true, strict: false })
  const validate = ajv.compile(schema)
  let bad = 0
  for (const f of files) {
    let doc
    try {
      doc = JSON.parse(fs.readFileSync(f, 'utf8'))
    } catch (e) {
      console.log(`INVALID ${f}: not JSON: ${e.message}`)
      bad++
      continue
    }
    if (validate(doc)) {
      console.log(`OK ${f}`)
    } else {
      const errs = validate.errors.slice(0, 10).map(e => `${e.instancePath || '/'} ${e.message}`)
      console.log(`INVALID ${f}: ${errs.join('; ')}`)
      bad++
    }
  }
  return bad ? 1 : 0
}

async function loadMode(file, expects, view, screenshot) {
  let chromium
  try {
    ({ chromium } = require('playwright-core'))
  } catch (e) {
    console.log(`SKIP ${file}: playwright-core not installed`)
    return 77
  }
  const exe = process.env.PYPROF_CHROMIUM || '/usr/bin/chromium'
  if (!fs.existsSync(exe)) {
    console.log(`SKIP ${file}: no Chromium at ${exe}`)
    return 77
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'speedscope-load-'))
  const js = path.join(tmp, 'profile.js')
  const b64 = fs.readFileSync(file).toString('base64')
  fs.writeFileSync(js, `speedscope.loadFileFromBase64(${JSON.stringify(path.basename(file))}, ` +
                       `${JSON.stringify(b64)})\n`)
  // speedscope prefixes the path with "file:///" itself.
  let hash = `#localProfilePath=${encodeURIComponent(js.replace(/^\/+/, ''))}`
  if (view)
    hash += `&view=${encodeURIComponent(view)}`
  const url = pathToFileURL(path.join(release, 'index.html')).href + hash

  const problems = []
  const browser = await chromium.launch({
    executablePath: exe,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
  let status = 1
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    page.on('pageerror', e => problems.push(`page error: ${e.message}`))
    page.on('console', m => {
      if (m.type() === 'error')
        problems.push(`console error: ${m.text()}`)
    })
    page.on('dialog', d => {
      problems.push(`dialog: ${d.message()}`)
      d.dismiss().catch(() => {})
    })
    await page.goto(url)
    // Loaded when every expected text is on the page; failed when speedscope says so.
    const failText = 'Something went wrong'
    try {
      await page.waitForFunction(({ expects, failText }) => {
        const t = document.body ? document.body.innerText : ''
        return t.includes(failText) || expects.every(x => t.includes(x))
      }, { expects, failText }, { timeout: 20000, polling: 100 })
    } catch (e) {
      problems.push('timed out waiting for the profile to show')
    }
    const text = await page.evaluate(() => document.body.innerText)
    if (text.includes(failText))
      problems.push(`speedscope shows an error: ${text.slice(0, 200).replace(/\s+/g, ' ')}`)
    for (const x of expects) {
      if (!text.includes(x))
        problems.push(`not shown: ${JSON.stringify(x)}`)
    }
    if (screenshot)
      await page.screenshot({ path: screenshot })
    if (problems.length) {
      console.log(`FAILED ${file}: ${problems.join('; ')}`)
    } else {
      console.log(`OK ${file}`)
      status = 0
    }
  } finally {
    await browser.close()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  return status
}

async function main() {
  const [mode, ...rest] = process.argv.slice(2)
  if (mode === 'schema' && rest.length)
    return schemaMode(rest)
  if (mode !== 'load' || !rest.length)
    usage()
  const file = rest[0]
  const expects = []
  let view = null, screenshot = null
  for (let i = 1; i < rest.length; i++) {
    if (rest[i] === '--expect' && i + 1 < rest.length)
      expects.push(rest[++i])
    else if (rest[i] === '--view' && i + 1 < rest.length)
      view = rest[++i]
    else if (rest[i] === '--screenshot' && i + 1 < rest.length)
      screenshot = rest[++i]
    else
      usage()
  }
  return loadMode(file, expects, view, screenshot)
}

main().then(code => process.exit(code), e => {
  console.log(`FAILED: ${e.stack || e}`)
  process.exit(1)
})
