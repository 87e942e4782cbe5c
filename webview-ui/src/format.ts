/** Number formats of the cards: "—" for anything missing or non-finite. */

/** `digits` significant digits, trailing zeros dropped: 0.0123, 1.5e-7. */
export function fmt(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : Number(x.toPrecision(digits)).toString();
}

/** One formatter for every call (Number.toLocaleString builds one per call). */
const INT_FORMAT = new Intl.NumberFormat('en-US');

/** A whole number with thousands separators: 12,345. */
export function fmtInt(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : INT_FORMAT.format(Math.round(x));
}

/** A forecast in seconds, in the unit a person reads it in: 42 s, 12 min, 2.5 h. */
export function fmtDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '—';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
