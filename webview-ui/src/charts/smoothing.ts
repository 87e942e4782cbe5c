/** Smoothed copies (display only) of the noisy per-step series: loss, OL, OR. */
import { SmoothedStore, type PanelModel, type SeriesStore } from '../store';

type Smoothed = 'loss' | 'ol' | 'or';

export class Smoothing {
  private stores: Record<Smoothed, SmoothedStore>;

  constructor(private readonly model: PanelModel) {
    this.stores = this.make();
  }

  private make(): Record<Smoothed, SmoothedStore> {
    const mk = (k: Smoothed) => new SmoothedStore(this.model.stores[k], this.model.prefs.smoothing);
    return { loss: mk('loss'), ol: mk('ol'), or: mk('or') };
  }

  /** The smoothed series of `k`, as drawn now. */
  out(k: Smoothed): SeriesStore {
    return this.stores[k].out;
  }

  /** A reset refilled the stores: smooth them again from their first point. */
  rebind(): void {
    this.stores = this.make();
  }

  setWeight(w: number): void {
    for (const s of Object.values(this.stores)) s.setWeight(w);
  }

  /** Smooths what was appended since the last frame. */
  sync(): void {
    for (const s of Object.values(this.stores)) s.sync();
  }
}
