/**
 * Restart counts as pm2 keeps them: `phase node status` reports pm2's count for every process
 * (signer and discovery included), and a restart of discovery does not reset the executors'.
 */
import { describe, it, expect, afterAll, beforeAll } from '@jest/globals'
import { phaseCli, startPm2Node, alive, type Pm2Node } from '../helpers/pm2-node.ts'
import { waitFor } from '../helpers/wait-for.ts'

let node: Pm2Node
beforeAll(async () => { node = await startPm2Node({ executors: 1 }, 1) })
afterAll(async () => { await node?.stop() })

interface Proc { name: string, index: number, state: string, pid: number | null, restarts: number }

async function processes (): Promise<Proc[] | undefined> {
  const r = await phaseCli(['node', 'status', '--json'], node.env)
  if (r.stdout === '') return undefined // discovery itself is restarting
  return (JSON.parse(r.stdout) as { processes: Proc[] }).processes
}

async function until (ok: (p: Proc[]) => boolean, what: string): Promise<Proc[]> {
  let last: Proc[] | undefined
  return await waitFor(async () => { last = await processes(); return last !== undefined && ok(last) && last }, {
    what, timeoutMs: 40_000, intervalMs: 300, detail: () => `last processes: ${JSON.stringify(last)}`
  })
}

const find = (p: Proc[], name: string): Proc => p.find((x) => x.name === name)!

describe('restart counts', () => {
  it('reports pm2\'s restart count of every process, across a restart of discovery', async () => {
    const first = await until((p) => p.every((x) => x.state === 'up'), 'all up')
    expect(first.map((x) => x.restarts)).toEqual([0, 0, 0])
    const kill = async (name: string): Promise<void> => {
      const pid = find(await until((p) => find(p, name).state === 'up', `${name} up`), name).pid!
      process.kill(pid, 'SIGKILL')
      await until((p) => find(p, name).state === 'up' && find(p, name).pid !== pid && alive(find(p, name).pid!), `${name} restarted`)
    }
    await kill('executor')
    await kill('signer')
    await kill('discovery')
    const after = await until((p) => p.every((x) => x.state === 'up' && x.restarts === 1), 'every process counted once')
    expect(after.map((x) => [x.name, x.restarts])).toEqual([['discovery', 1], ['signer', 1], ['executor', 1]])
    const table = await phaseCli(['node', 'status'], node.env)
    expect(table.stdout).toMatch(/^signer +up +[0-9]+ .* 1$/m)
    expect(table.stdout).toMatch(/^discovery +up +[0-9]+ .* 1$/m)
  }, 180_000)
})
