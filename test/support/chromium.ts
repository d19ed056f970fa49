import { existsSync } from 'node:fs';

/** The system's Chromium (`MAINSTAY_CHROMIUM`, else Debian's), or `null` when there is none. */
export function chromiumPath(): string | null {
  const candidates = [
    process.env.MAINSTAY_CHROMIUM,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
  ];
  return (
    candidates.find((file): file is string => typeof file === 'string' && existsSync(file)) ?? null
  );
}
