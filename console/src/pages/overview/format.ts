/** Sizes in bytes as people read them, in the locale's digits: `472 B`, `1.5 MiB`. */
import type { I18n } from '../../app/i18n.tsx';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

export function formatBytes(i18n: I18n, bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 ? value : Math.round(value * 10) / 10;
  return i18n.t('overview.size', { n: i18n.number(shown), unit: UNITS[unit] as string });
}
