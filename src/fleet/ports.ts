import net from 'node:net';
import { MainstayError } from '../errors/mainstay-error.ts';

/** Ports are picked below Linux's ephemeral range, so outgoing connections never take them. */
export const PORT_RANGE_FIRST = 20000;
export const PORT_RANGE_LAST = 32000;
const PORT_PROBE_COUNT_MAX = 2000;

/** Whether nothing listens on `port` at `host` (binds it for a moment to find out). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Picks `count` distinct free ports, scanning upward from a random point of the range so two
 * fleets provisioned at the same moment rarely reach for the same ports.
 */
export async function pickFreePorts(
  count: number,
  taken: ReadonlySet<number> = new Set(),
  host = '127.0.0.1',
): Promise<number[]> {
  const span = PORT_RANGE_LAST - PORT_RANGE_FIRST;
  let candidate = PORT_RANGE_FIRST + Math.floor(Math.random() * span);
  const ports: number[] = [];
  for (let probe = 0; probe < PORT_PROBE_COUNT_MAX && ports.length < count; probe += 1) {
    candidate = candidate >= PORT_RANGE_LAST ? PORT_RANGE_FIRST : candidate + 1;
    if (taken.has(candidate)) continue;
    if (await isPortFree(candidate, host)) ports.push(candidate);
  }
  if (ports.length < count) {
    throw new MainstayError(
      'port_in_use',
      `found only ${ports.length} of ${count} free ports in ${PORT_RANGE_FIRST}-${PORT_RANGE_LAST}`,
    );
  }
  return ports;
}

/** Throws `port_in_use` naming the port and who needed it when `port` is taken. */
export async function assertPortFree(
  port: number,
  owner: string,
  host = '127.0.0.1',
): Promise<void> {
  if (await isPortFree(port, host)) return;
  throw new MainstayError(
    'port_in_use',
    `port ${port} on ${host} (for ${owner}) is already in use by another process`,
  );
}
