// pgpass (the ~/.pgpass reader pg itself uses) ships no types
declare module 'pgpass' {
  function pgpass(connInfo: {host?: string; port?: number | string; database?: string; user?: string}, callback: (password: string | undefined) => void): void
  export default pgpass
}
