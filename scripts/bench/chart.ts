/**
 * The fan-out chart as a hand-written SVG (no chart dependency): time to last delivery against
 * connection count, ours against the baseline, both measured in the same run.
 */
import type { ChartData, ChartPoint, ChartSeries } from './types';

const W = 640;
const H = 380;
const M = { left: 64, right: 24, top: 48, bottom: 72 };
const STYLE: Readonly<Record<ChartSeries['kind'], readonly [string, string]>> = {
  ours: ['#2563eb', ''],
  baseline: ['#dc2626', '6 4'],
  'baseline-alt': ['#d97706', '2 4'],
  floor: ['#9ca3af', '1 3'],
};

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis maximum and step: 1, 2, 2.5 or 5 times a power of ten. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  return { max: Math.ceil(max / step) * step, step };
}

function fmt(value: number): string {
  return Number(value.toPrecision(6)).toLocaleString('en-US');
}

/**
 * Renders the chart.
 *
 * @example
 * writeFileSync('chart.svg', fanOutChart({ series: [{ name: 'ours', kind: 'ours', points: [{ connections: 1000, ms: 300 }] }], caption: '...' }));
 */
export function fanOutChart(data: ChartData, title = 'Topic fan-out: time to last delivery'): string {
  const all: ChartPoint[] = data.series.flatMap((s) => s.points);
  const x = niceScale(Math.max(1, ...all.map((p) => p.connections)));
  const y = niceScale(Math.max(0.001, ...all.map((p) => p.ms / 1000)));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const px = (connections: number) => M.left + (connections / x.max) * plotW;
  const py = (secs: number) => M.top + plotH - (secs / y.max) * plotH;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(title)}</text>`,
  );
  for (let v = 0; v <= y.max + 1e-9; v += y.step) {
    const yy = py(v).toFixed(1);
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${yy}" y2="${yy}" stroke="#e5e7eb"/>`,
      `<text x="${M.left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#374151">${fmt(v)}</text>`,
    );
  }
  for (let v = 0; v <= x.max + 1e-9; v += x.step) {
    const xx = px(v).toFixed(1);
    parts.push(
      `<line x1="${xx}" x2="${xx}" y1="${M.top + plotH}" y2="${M.top + plotH + 5}" stroke="#6b7280"/>`,
      `<text x="${xx}" y="${M.top + plotH + 18}" text-anchor="middle" fill="#374151">${fmt(v)}</text>`,
    );
  }
  parts.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + plotH}" stroke="#6b7280"/>`,
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + plotH}" y2="${M.top + plotH}" stroke="#6b7280"/>`,
    `<text x="${M.left + plotW / 2}" y="${M.top + plotH + 38}" text-anchor="middle" fill="#111827">connections</text>`,
    `<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#111827">seconds to last delivery</text>`,
  );
  data.series.forEach(({ name, points, kind }, i) => {
    const [color, dash] = STYLE[kind];
    const sorted = [...points].sort((a, b) => a.connections - b.connections);
    if (sorted.length > 0) {
      const path = sorted
        .map((p) => `${px(p.connections).toFixed(1)},${py(p.ms / 1000).toFixed(1)}`)
        .join(' ');
      parts.push(
        `<polyline points="${path}" fill="none" stroke="${color}" stroke-width="${kind === 'floor' ? 1.5 : 2.5}"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}/>`,
      );
      for (const p of sorted) {
        if (kind === 'floor') continue;
        const cx = px(p.connections).toFixed(1);
        const cy = py(p.ms / 1000).toFixed(1);
        parts.push(
          `<circle cx="${cx}" cy="${cy}" r="4" fill="${color}"><title>${escapeXml(`${name}: ${fmt(p.connections)} connections, ${(p.ms / 1000).toFixed(2)} s`)}</title></circle>`,
        );
        if (p.label !== undefined) {
          parts.push(
            `<text x="${cx}" y="${(Number(cy) + 16).toFixed(1)}" text-anchor="end" fill="${color}" font-size="10">${escapeXml(p.label)}</text>`,
          );
        }
      }
    }
    const ly = M.top + 8 + i * 18;
    const lx = M.left + 12;
    parts.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.5"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}/>`,
      `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle" fill="#111827">${escapeXml(name)}</text>`,
    );
  });
  parts.push(
    `<text x="${W / 2}" y="${H - 10}" text-anchor="middle" fill="#4b5563" font-size="11">${escapeXml(data.caption)}</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
