/**
 * The step axis all step charts share: a zoomed range the user chose
 * (model.prefs.view), or null to follow the whole run.
 */
import type { PanelModel } from './store';

/** The steps to show: the chosen view, else the whole run; null before the first point. */
export function currentRange(model: PanelModel): [number, number] | null {
  if (model.prefs.view) return model.prefs.view;
  // No live run yet: the recorded run's steps (it is drawn beside whatever comes).
  const c = model.comparisonStores;
  const a = model.firstStep ?? c.loss.firstX ?? c.eps.firstX;
  const b = model.lastStep ?? c.loss.lastX ?? c.eps.lastX;
  if (a === null || b === null) return null;
  return [a, b > a ? b : a + 1];
}

/** A view to keep: a finite, non-empty range, or null (follow the run). */
export function validView(v: [number, number] | null): [number, number] | null {
  return v && Number.isFinite(v[0]) && Number.isFinite(v[1]) && v[1] > v[0] ? v : null;
}
