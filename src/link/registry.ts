import type { LinkDevice, LinkDriver, LinkRole, LinkSpec } from './device.js';

// Per-thread driver table: every thread that owns devices imports the built-ins (src/link/index.ts registers them);
// a driver of someone else's plugs in by module URL without touching the core, like a loadable device module.
const drivers = new Map<string, LinkDriver>();

export function registerLinkDriver(driver: LinkDriver): void {
  drivers.set(driver.name, driver);
}

export function linkDriverNames(): string[] {
  return [...drivers.keys()].sort();
}

export async function createLinkDevice(spec: LinkSpec, role: LinkRole = 'both'): Promise<LinkDevice> {
  let driver = drivers.get(spec.driver);
  if (!driver && spec.module) {
    const loaded = (await import(spec.module)) as { default?: LinkDriver };
    if (!loaded.default || typeof loaded.default.create !== 'function') {
      throw new Error(`link module ${spec.module} has no default export with create(spec)`);
    }
    registerLinkDriver(loaded.default);
    driver = loaded.default;
  }
  if (!driver) {
    throw new Error(`unknown link driver "${spec.driver}" (known: ${linkDriverNames().join(', ') || 'none'})`);
  }
  return driver.create(spec, role);
}
