export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatRate(tps: number | undefined): string {
  return tps && Number.isFinite(tps) ? `${tps >= 100 ? tps.toFixed(0) : tps.toFixed(1)} tok/s` : '–';
}
