/**
 * Colours of the current VS Code theme, read from the CSS variables VS Code
 * sets on the webview's body (with fallbacks for a plain page, e.g. the bench).
 */

export interface Theme {
  fg: string;
  muted: string;
  grid: string;
  bg: string;
  blue: string;
  red: string;
  green: string;
  yellow: string;
  orange: string;
  purple: string;
  /** The recorded run overlaid beside the live one (a colour none of the live series uses). */
  compare: string;
}

export function readTheme(win: Window): Theme {
  const cs = win.getComputedStyle(win.document.body);
  const v = (name: string, fallback: string): string => cs.getPropertyValue(name).trim() || fallback;
  return {
    fg: v('--vscode-foreground', '#cccccc'),
    muted: v('--vscode-descriptionForeground', '#999999'),
    grid: v('--vscode-editorWidget-border', '#80808040'),
    bg: v('--vscode-editor-background', '#1e1e1e'),
    blue: v('--vscode-charts-blue', '#3794ff'),
    red: v('--vscode-charts-red', '#f14c4c'),
    green: v('--vscode-charts-green', '#89d185'),
    yellow: v('--vscode-charts-yellow', '#cca700'),
    orange: v('--vscode-charts-orange', '#d18616'),
    purple: v('--vscode-charts-purple', '#b180d7'),
    compare: v('--vscode-terminal-ansiMagenta', '#d670d6'),
  };
}

/** The colour with alpha a, for bands (theme colours are hex). */
export function alpha(color: string, a: number): string {
  const m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(color.trim());
  if (!m) return color;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

/** Calls `onChange` on every theme switch (VS Code changes the body's class then). */
export function watchTheme(win: Window & typeof globalThis, onChange: () => void): void {
  new win.MutationObserver(onChange).observe(win.document.body, { attributes: true, attributeFilter: ['class'] });
}
