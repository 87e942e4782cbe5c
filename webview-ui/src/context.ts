/**
 * What the parts of the panel share. One object owns it (created by
 * createPanel in app.ts) and is passed to each part; no part keeps state of
 * its own at module level.
 */
import type { El } from './dom';
import type { PanelModel } from './store';
import type { Theme } from './theme';

/** The webview's window (or a test's DOM window), with its constructors. */
export type PanelWindow = Window & typeof globalThis;

export interface PanelContext {
  readonly window: PanelWindow;
  readonly document: Document;
  /** Element builder for this document. */
  readonly el: El;
  /** Series stores, cards' data, prefs (store.ts). */
  readonly model: PanelModel;
  /** Colours; replaced on a theme switch. */
  theme: Theme;
}
