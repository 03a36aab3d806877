import assert from 'node:assert/strict'
import {afterEach, beforeEach, describe, test} from 'node:test'

import {cleartextPostgresWarning} from '../../src/lib/store/postgres/connection.js'

/**
 * bix warns when a PostgreSQL index would be reached over a network without
 * TLS: the password and the index would cross it in clear text. The warning
 * is worked out from the URL and the environment alone; nothing here
 * connects anywhere (the hosts are documentation addresses and names).
 */

const saved = {PGSSLMODE: process.env.PGSSLMODE, PGHOST: process.env.PGHOST}

beforeEach(() => {
  delete process.env.PGSSLMODE
  delete process.env.PGHOST
})
afterEach(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
})

describe('cleartextPostgresWarning', () => {
  test('a host on another machine without sslmode warns, naming the host and the fix', () => {
    for (const [url, host] of [
      ['postgres://bix:secret@db.example.net/bix', 'db.example.net'],
      ['postgresql://bix:secret@192.0.2.7:5433/bix', '192.0.2.7'],
      ['postgres://bix:secret@[2001:db8::7]:5432/bix', '2001:db8::7'],
      ['postgres://bix@/bix?host=db.example.net', 'db.example.net'],
      ['postgres://bix:secret@db.example.net/bix?sslmode=prefer', 'db.example.net'],
      ['postgres://bix:secret@db.example.net/bix?sslmode=disable', 'db.example.net'],
    ]) {
      const warning = cleartextPostgresWarning(url)
      assert.ok(warning, `${url} warns`)
      assert.ok(warning.includes(`at ${host} without TLS`), warning)
      assert.match(warning, /sslmode=verify-full/)
      assert.ok(!warning.includes('secret'), `the password stays out of the warning: ${warning}`)
    }
  })

  test('sslmode require, verify-ca or verify-full in the URL: no warning', () => {
    for (const mode of ['require', 'verify-ca', 'verify-full']) {
      assert.equal(cleartextPostgresWarning(`postgres://bix:secret@db.example.net/bix?sslmode=${mode}`), undefined, mode)
      assert.equal(cleartextPostgresWarning(`postgres://bix:secret@db.example.net/bix?application_name=bix&sslmode=${mode}`), undefined, `${mode} as a later parameter`)
    }
  })

  test('this machine (a Unix socket, 127.0.0.1, localhost, [::1]) needs no TLS', () => {
    for (const url of [
      'postgres://bix:secret@/bix?host=/var/run/postgresql',
      'postgres://bix:secret@/bix?host=%2Ftmp%2Fbix-pg-1',
      'postgres://bix:secret@/bix',
      'postgres://bix:secret@127.0.0.1:5432/bix',
      'postgres://bix:secret@127.8.9.10/bix',
      'postgres://bix:secret@localhost/bix',
      'postgres://bix:secret@[::1]:5432/bix',
      'postgres://bix@/bix?host=localhost',
    ]) {
      assert.equal(cleartextPostgresWarning(url), undefined, url)
    }
  })

  test('PGSSLMODE is honoured when the URL says no sslmode, and a sslmode in the URL wins over it', () => {
    process.env.PGSSLMODE = 'require'
    assert.equal(cleartextPostgresWarning('postgres://bix:secret@db.example.net/bix'), undefined)
    process.env.PGSSLMODE = 'verify-full'
    assert.equal(cleartextPostgresWarning('postgres://bix:secret@db.example.net/bix'), undefined)
    assert.ok(cleartextPostgresWarning('postgres://bix:secret@db.example.net/bix?sslmode=disable'), 'the URL\'s sslmode=disable overrides PGSSLMODE')
    process.env.PGSSLMODE = 'prefer'
    assert.ok(cleartextPostgresWarning('postgres://bix:secret@db.example.net/bix'))
  })

  test('PGHOST names the server when the URL does not', () => {
    process.env.PGHOST = 'db.example.net'
    assert.match(cleartextPostgresWarning('postgres://bix:secret@/bix') ?? '', /at db\.example\.net without TLS/)
    process.env.PGHOST = '/var/run/postgresql'
    assert.equal(cleartextPostgresWarning('postgres://bix:secret@/bix'), undefined)
  })
})
