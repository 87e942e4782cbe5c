/**
 * Which notifications a status update calls for (pure: the monitor shows
 * them). The user opts in per kind (`fdrMonitor.notifications`): a drop
 * suggestion and a divergence while the panel is hidden, and a stalled
 * source (no record for longer than the stall time) whether or not the
 * panel is open. Each fires once per occurrence: a stall once until records
 * flow again, a suggestion once per suggestion id.
 */
import type { PanelStatus, Suggestion } from '../shared/messages';

export const NOTIFY_KINDS = ['suggestion', 'diverging', 'stall'] as const;
export type NotifyKind = (typeof NOTIFY_KINDS)[number];
export const DEFAULT_NOTIFY: NotifyKind[] = ['suggestion', 'diverging'];

export interface Alert {
  kind: NotifyKind;
  text: string;
  suggestionId?: string;
}

/** "42 s", "3 min" */
function seconds(s: number): string {
  return s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

export class Alerts {
  private stalled = false;
  private lastSuggestion: string | null = null;

  constructor(private readonly kinds: () => readonly NotifyKind[]) {}

  /**
   * One update's status and suggestion (undefined: unchanged). `panelVisible`:
   * suggestions and divergence are on the panel's cards already when it is.
   */
  observe(status: PanelStatus | undefined, suggestion: Suggestion | null | undefined, panelVisible: boolean): Alert[] {
    const on = new Set(this.kinds());
    const out: Alert[] = [];
    if (status) {
      const stalled = status.stalledFor !== undefined && status.stalledFor !== null;
      if (stalled && !this.stalled && on.has('stall')) {
        out.push({
          kind: 'stall',
          text: `FDR: ${status.source} has sent no record for ${seconds(status.stalledFor as number)} (stall time ${seconds(status.stallAfter ?? 0)}): is the trainer hung, its data loader stuck, or the connection dead?`,
        });
      }
      this.stalled = stalled;
    }
    if (suggestion && suggestion.id !== this.lastSuggestion) {
      this.lastSuggestion = suggestion.id;
      const kind: NotifyKind = suggestion.action === 'diverging' ? 'diverging' : 'suggestion';
      if (on.has(kind) && !panelVisible) out.push({ kind, text: `FDR: ${suggestion.text}`, suggestionId: suggestion.id });
    }
    return out;
  }
}
