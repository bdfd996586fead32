import type { LinkSpec } from './device.js';

/**
 * Turns the CLI's link names into specs: `packet:IF` (or `packet:auto`), `tap:NAME`, `raw`, `loopback`.
 * Drivers for names not listed take the form `driver:argument` and receive `{ driver, name: argument }`.
 */
export function parseLinkName(text: string): LinkSpec {
  const colon = text.indexOf(':');
  const driver = colon < 0 ? text : text.slice(0, colon);
  const argument = colon < 0 ? '' : text.slice(colon + 1);
  if (!/^[a-z][a-z0-9_-]*$/.test(driver)) throw new TypeError(`bad link name ${JSON.stringify(text)}: expected driver[:argument]`);
  switch (driver) {
    case 'packet':
      if (!argument) throw new TypeError('packet link needs an interface: packet:IFNAME or packet:auto');
      return { driver, ifname: argument };
    case 'tap':
      if (!argument) throw new TypeError('tap link needs a device name: tap:NAME');
      return { driver, name: argument };
    case 'memory':
      throw new TypeError('a memory link is made with createMemoryWire(), not by name');
    default:
      return argument ? { driver, name: argument } : { driver };
  }
}
