/**
 * The cards above the charts (#cards): "No run yet" with a start button until
 * a run arrives, then the status card and, when there is one, the suggestion card.
 */
import type { WebviewToHost } from '../../../src/shared/messages';
import type { PanelContext } from '../context';
import { ComparisonCard } from './comparison-card';
import { StatusCard } from './status-card';
import { SuggestionCard } from './suggestion-card';

export class Cards {
  readonly element: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly status: StatusCard;
  private readonly suggestion: SuggestionCard;
  private readonly comparison: ComparisonCard;

  constructor(
    private readonly ctx: PanelContext,
    post: (m: WebviewToHost) => void,
    /** The recorded run was removed from the panel (redraw, save). */
    comparisonRemoved: () => void = () => undefined,
  ) {
    const { el } = ctx;
    const startButton = el('button', { id: 'start-button' }, 'Start FDR monitor…');
    startButton.addEventListener('click', () => post({ type: 'start' }));
    this.empty = el('div', { id: 'empty', class: 'card' }, el('p', {}, 'No run yet.'), startButton);
    this.status = new StatusCard(ctx);
    this.suggestion = new SuggestionCard(ctx, post);
    this.comparison = new ComparisonCard(ctx, post, comparisonRemoved);
    this.element = el('div', { id: 'cards' }, this.empty, this.status.element, this.suggestion.element, this.comparison.element);
  }

  /** Brings the cards up to date with the model; draws no chart points (returns 0). */
  render(): number {
    this.empty.classList.toggle('hidden', this.ctx.model.run !== null || this.ctx.model.comparison !== null);
    this.status.render();
    this.suggestion.render();
    this.comparison.render();
    return 0;
  }
}
