// Interfaces attached to and detached from a running stack (loadable devices): routes and ARP entries follow them.
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryWire, createStack, type Stack, type StackLayout, type StackStats } from '../src/main/index.js';

const open: Stack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function stack(layout: StackLayout, link: ReturnType<typeof createMemoryWire>[0], address: string): Promise<Stack> {
  const s = await createStack({ link, address, layout });
  open.push(s);
  return s;
}

function proto(stats: StackStats, name: string): number | undefined {
  return stats.stages.proto?.[name];
}

describe.each(['inline', 'single'] as const)('attach and detach on a running stack, layout %s', (layout) => {
  it('a second wire on another subnet carries pings, and after detach its routes and ARP entries are gone', async () => {
    const [a1, b1] = createMemoryWire();
    const [a2, c2] = createMemoryWire();
    const A = await stack(layout, a1, '198.18.1.1/24');
    const B = await stack(layout, b1, '198.18.1.2/24');
    const C = await stack(layout, c2, '198.18.3.2/24');

    // Before the attach, A has no route to 198.18.3.0/24.
    await expect(A.ping('198.18.3.2', { count: 1, timeoutMs: 500 })).rejects.toMatchObject({ code: 'ENETUNREACH' });

    const info = await A.attach({ link: a2, address: '198.18.3.1/24' });
    expect(info).toMatchObject({ address: '198.18.3.1', prefixLength: 24, mtu: 1500 });
    expect(info.index).toBeGreaterThan(1);
    expect(A.interfaceList().map((i) => i.address)).toEqual(['127.0.0.1', '198.18.1.1', '198.18.3.1']);

    expect(await A.ping('198.18.3.2', { count: 2, intervalMs: 1 })).toHaveLength(2);
    expect(await A.ping('198.18.1.2', { count: 1 })).toHaveLength(1);
    // C learned A on the new wire and answers from it: both directions work.
    expect(await C.ping('198.18.3.1', { count: 1 })).toHaveLength(1);

    const before = await A.stats();
    expect(before.interfaces.map((i) => i.index)).toContain(info.index);
    expect(proto(before, `arpEntries.if${info.index}`)).toBe(1);
    expect(proto(before, 'arpEntries.if1')).toBe(1);
    expect(before.rings[`${info.name}.rx`]).toBeDefined();

    await A.detach(info.index);
    const after = await A.stats();
    expect(after.interfaces.map((i) => i.index)).not.toContain(info.index);
    expect(proto(after, `arpEntries.if${info.index}`)).toBeUndefined();
    expect(proto(after, 'arpEntries.if1')).toBe(1);
    expect(proto(after, 'arpEntries')).toBe(1);
    const noRouteBefore = proto(after, 'noRoute') ?? 0;
    await expect(A.ping('198.18.3.2', { count: 1, timeoutMs: 500 })).rejects.toMatchObject({ code: 'ENETUNREACH' });
    expect(proto(await A.stats(), 'noRoute')).toBe(noRouteBefore + 1);
    // The other interface is untouched.
    expect(await A.ping('198.18.1.2', { count: 1 })).toHaveLength(1);
    // C's pings now go nowhere: A's end of that wire is closed.
    await expect(C.ping('198.18.3.1', { count: 1, timeoutMs: 300 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });

    // The same wire attaches again, under a new index, and works again.
    const again = await A.attach({ link: a2, address: '198.18.3.1/24' });
    expect(again.index).toBeGreaterThan(info.index);
    expect(await A.ping('198.18.3.2', { count: 1 })).toHaveLength(1);
    void B;
  });
});

describe('attach and detach errors', () => {
  it('say what is wrong and change nothing', async () => {
    const [a1] = createMemoryWire();
    const A = await stack('inline', a1, '198.18.1.1/24');
    await expect(A.detach(0)).rejects.toThrow(/loopback cannot be detached/);
    await expect(A.detach(7)).rejects.toThrow(/no interface 7/);
    await expect(A.attach({ link: createMemoryWire()[0], address: '198.18.4.1' })).rejects.toThrow(/A.B.C.D\/N/);
    await expect(A.attach({ link: { driver: 'nosuch' }, address: '198.18.4.1/24' })).rejects.toThrow(/unknown link driver "nosuch"/);
    expect(A.interfaceList()).toHaveLength(2);
    expect((await A.stats()).interfaces).toHaveLength(2);
  });
});
