/** Smoothed copies (display only) of the noisy per-step series: loss, OL, OR. */
import { SmoothedStore, type PanelModel, type SeriesStore } from '../store';

type Smoothed = 'loss' | 'ol' | 'or';

export class Smoothing {
  private stores: Record<Smoothed, SmoothedStore>;
  /** The recorded run's loss, smoothed with the same weight (its overlay). */
  private compared: SmoothedStore;

  constructor(private readonly model: PanelModel) {
    this.stores = this.make();
    this.compared = new SmoothedStore(model.comparisonStores.loss, model.prefs.smoothing);
  }

  /** The recorded run's smoothed loss, as drawn now. */
  comparisonLoss(): SeriesStore {
    return this.compared.out;
  }

  /** Another recorded run (or none): smooth its loss from the start. */
  rebindComparison(): void {
    this.compared = new SmoothedStore(this.model.comparisonStores.loss, this.model.prefs.smoothing);
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
    this.compared.setWeight(w);
  }

  /** Smooths what was appended since the last frame. */
  sync(): void {
    for (const s of Object.values(this.stores)) s.sync();
    this.compared.sync();
  }
}
