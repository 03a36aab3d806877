import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {REPO_ROOT, runBix} from '../support/cli.js'
import {hasScript} from '../support/terminal.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * The shell habits an operator brings: tab completion in bash, and a typo
 * that gets "did you mean" instead of a bare failure.
 */

type Context = {after: (fn: () => void | Promise<void>) => void}

function tempDir(t: Context, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

const ANSI_CODES = /\x1b\[[0-9;?]*[A-Za-z]/g

/**
 * Runs bix on a pseudo-terminal and types `answer` once the prompt shows,
 * as a person at the keyboard would. Output is the screen, colours stripped.
 */
function typeAtPrompt(args: string[], prompt: RegExp, answer: string): Promise<{code: number | null; screen: string; promptSeen: boolean}> {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`
  const bix = [process.execPath, path.join(REPO_ROOT, 'bin', 'run.js'), ...args].map(quote).join(' ')
  const env: NodeJS.ProcessEnv = {...process.env, TERM: 'xterm-256color'}
  delete env.CI
  const child = spawn('script', ['-qec', `stty cols 100 rows 40 && exec ${bix}`, '/dev/null'], {cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe']})
  let screen = ''
  let promptSeen = false
  const onData = (s: string) => {
    screen += s
    if (!promptSeen && prompt.test(screen.replace(ANSI_CODES, ''))) {
      promptSeen = true
      child.stdin.write(answer)
    }
  }
  child.stdout.setEncoding('utf8').on('data', onData)
  child.stderr.setEncoding('utf8').on('data', onData)
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({code, screen: screen.replace(ANSI_CODES, ''), promptSeen})
    })
  })
}

describe('a mistyped command', () => {
  let node: TestNode
  before(async () => {
    node = await startTestNode()
  })
  after(async () => {
    await node?.stop()
  })

  test('in a terminal, `bix stauts` asks "Did you mean status?"; no ends it with exit 127', {skip: !hasScript && 'needs util-linux script'}, async () => {
    const started = Date.now()
    const r = await typeAtPrompt(['stauts'], /Did you mean status\?/, 'n\r')
    assert.ok(r.promptSeen, r.screen)
    assert.match(r.screen, /stauts is not a bix command/)
    assert.equal(r.code, 127)
    // the prompt gives up by itself after 10 s: this run ended on the answer
    assert.ok(Date.now() - started < 9_000, `took ${Date.now() - started} ms`)
  })

  test('in a terminal, yes runs status itself, with the flags that were typed', {skip: !hasScript && 'needs util-linux script'}, async () => {
    const r = await typeAtPrompt(['stauts', ...node.cliArgs()], /Did you mean status\?/, '\r')
    assert.ok(r.promptSeen, r.screen)
    assert.equal(r.code, 0, r.screen)
    const blocks = await node.tipHeight()
    assert.match(r.screen, new RegExp(`blocks +${blocks} of ${blocks} headers`), 'status ran against the node given')
  })

  test('in a script nothing is asked: one warning, a pointer to help, exit 127', async () => {
    const r = await runBix(['stauts'], {timeoutMs: 20_000})
    assert.equal(r.code, 127)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /stauts is not a bix command/)
    assert.match(r.stderr, /Run bix help for a list of available commands/)
    assert.doesNotMatch(r.stderr, /Did you mean/)
  })
})

describe('bash completion', () => {
  /** a home of its own: the completion functions live in bix's cache directory */
  function isolatedHome(t: Context): Record<string, string> {
    const home = tempDir(t, 'bix-home-')
    return {HOME: home, XDG_CACHE_HOME: path.join(home, '.cache')}
  }

  /** COMPREPLY for a command line typed up to the cursor (its last word may be partial) */
  function complete(setupLine: string, env: Record<string, string>, words: string[]): string[] {
    const script = `${setupLine}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})
COMP_CWORD=${words.length - 1}
_bix_autocomplete
printf '%s\\n' "\${COMPREPLY[@]}"`
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], {env: {...process.env, ...env}, encoding: 'utf8'})
    assert.equal(r.status, 0, r.stderr)
    return r.stdout.split('\n').filter(Boolean).sort()
  }

  test('`bix st<TAB>` completes to status, `bix status --pro<TAB>` to --prometheus, `bix query a<TAB>` to address', async (t) => {
    const env = isolatedHome(t)
    // as the user does it: `bix autocomplete bash` (which writes the functions), then the line it says to add to ~/.bashrc
    const instructions = await runBix(['autocomplete', 'bash'], {env})
    assert.equal(instructions.code, 0, instructions.stderr)
    assert.match(instructions.stdout, /bix autocomplete script bash/)
    const script = await runBix(['autocomplete', 'script', 'bash'], {env})
    assert.equal(script.code, 0, script.stderr)
    assert.match(script.stdout, /autocomplete setup/)

    assert.deepEqual(complete(script.stdout, env, ['bix', 'st']), ['status'])
    assert.deepEqual(complete(script.stdout, env, ['bix', 's']), ['status', 'sync-mempool'])
    assert.deepEqual(complete(script.stdout, env, ['bix', 'status', '--pro']), ['--prometheus'])
    assert.deepEqual(complete(script.stdout, env, ['bix', 'query', 'a']), ['address'])
    assert.ok(complete(script.stdout, env, ['bix', 'index', '--']).includes('--to-height'), 'every flag of the command is offered')
  })
})
